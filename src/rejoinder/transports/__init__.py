"""Transports move audio and events between a client and a Session; they hold no turn logic."""
