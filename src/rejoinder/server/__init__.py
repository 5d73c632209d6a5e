"""HTTP server: health, metrics, the web page, and the realtime endpoints."""
