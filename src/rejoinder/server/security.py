"""Who may use the server from a browser, and keeping API keys out of logs.

A page on any site the user visits can open a WebSocket to 127.0.0.1 or post to it: browsers
do not apply CORS to WebSockets, and "simple" POSTs (text/plain, forms) are sent without a
preflight. Browsers do say where such a request comes from (`Origin`, `Sec-Fetch-Site`), so:

- WebSocket upgrades and every state-changing request (POST, PUT, PATCH, DELETE) are accepted
  only from the server's own page, from clients that send no Origin (SDKs, curl, servers), and
  from origins the operator lists (`--allow-origin`, `*` for any).
- On a loopback bind, only loopback Host names are accepted (localhost, 127.x, [::1]) plus
  `--allow-host` ones: a DNS-rebinding page (evil.example resolving to 127.0.0.1) sends
  `Host: evil.example` and is refused.
- A key in the URL (`?api_key=`) is refused: URLs end up in logs and browser history.
- Log records are scrubbed of API keys (`logs.protect_secrets`): the configured key,
  `openai-insecure-api-key.*` WebSocket subprotocols, `api_key=` and `Bearer` values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from rejoinder import logs
from rejoinder.errors import BadInputError
from rejoinder.server.errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class SecuritySettings:
    allow_origins: tuple[str, ...] = ()
    """Origins (scheme://host[:port]) allowed besides the server's own page; '*' allows any."""
    allow_hosts: tuple[str, ...] = ()
    """Host names accepted besides loopback ones; '*' accepts any."""
    bind_host: str | None = None
    """The address the server listens on; None is treated as loopback (the strict default)."""


SECURITY = web.AppKey("security", SecuritySettings)


def install_security(
    app: web.Application, settings: SecuritySettings | None = None, api_key: str | None = None
) -> None:
    """Put the checks in front of every route (call before the app starts) and scrub the key from logs."""
    app[SECURITY] = settings or SecuritySettings()
    app.middlewares.insert(0, security_middleware)
    logs.protect_secrets(api_key)


def settings_from_options(
    bind_host: str, allow_origins: Iterable[str] | None, allow_hosts: Iterable[str] | None
) -> SecuritySettings:
    """Validated settings from the `serve` options (a bad value is a one-line error)."""
    origins = []
    for origin in allow_origins or ():
        if origin != "*":
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise BadInputError(f"--allow-origin {origin!r}: give scheme://host[:port], or '*'")
            origin = _origin_key(origin) or origin
        origins.append(origin)
    hosts = []
    for host in allow_hosts or ():
        name = host.strip().lower().strip("[]")
        if not name or any(c in name for c in "/ @"):
            raise BadInputError(f"--allow-host {host!r}: give a host name or address, or '*'")
        hosts.append(name)
    return SecuritySettings(tuple(origins), tuple(hosts), bind_host)


def checked_api_key(key: str | None) -> str | None:
    """The `--api-key` to require, or None. Found by probing: `--api-key ""` (as from `--api-key
    "$KEY"` with KEY unset) started a server that asked no key of anyone, without a word."""
    if key is None:
        return None
    if not key.strip():
        raise BadInputError(
            "--api-key is empty (an unset variable?): give a key, or leave the option out to require none"
        )
    if not all(33 <= ord(c) <= 126 for c in key):
        raise BadInputError(
            "--api-key must be printable ASCII without spaces (clients send it in an HTTP header)"
        )
    return key


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SECURITY]
    host = request.headers.get("Host")
    if host is not None and not host_allowed(host, settings):
        return error_response(
            f"Host {host!r} is not served here; start the server with --allow-host to accept it",
            403,
            "host_not_allowed",
        )
    if "api_key" in request.query:
        return error_response(
            "an API key in the URL is not accepted (URLs are logged); send 'Authorization: Bearer KEY' "
            "or, from a browser WebSocket, the subprotocol 'openai-insecure-api-key.KEY'",
            400,
            "api_key_in_url",
        )
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if upgrade or request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, host, settings):
            return error_response(
                f"requests from origin {origin!r} are not accepted; start the server with "
                "--allow-origin to allow that site",
                403,
                "origin_not_allowed",
            )
        if origin is None and request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return error_response("cross-site requests are not accepted", 403, "origin_not_allowed")
    return await handler(request)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return True
    name = host.lower().strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host(host: str) -> tuple[str, int | None]:
    """'example.com:8000' -> ('example.com', 8000); '[::1]:80' -> ('::1', 80)."""
    parts = urlsplit(f"//{host}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port


def host_allowed(host: str, settings: SecuritySettings) -> bool:
    if not is_loopback(settings.bind_host) and not settings.allow_hosts:
        return True  # listening on a public address: the operator exposes it on any name
    if "*" in settings.allow_hosts:
        return True
    name, _ = _split_host(host)
    return is_loopback(name) or name in settings.allow_hosts


def _origin_key(origin: str) -> str | None:
    """scheme://host[:port] in lower case, the scheme's default port dropped; None if malformed."""
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port is None or port == _DEFAULT_PORTS.get(parts.scheme) else f":{port}"
    return f"{parts.scheme.lower()}://{name.lower()}{shown}"


def origin_allowed(origin: str, host: str | None, settings: SecuritySettings) -> bool:
    if "*" in settings.allow_origins:
        return True
    key = _origin_key(origin)
    if key is None:  # "null" (sandboxed frames, file:// pages) or garbage
        return False
    if key in settings.allow_origins:
        return True
    if host is None:
        return False
    scheme = key.split("://", 1)[0]
    origin_host, origin_port = _split_host(key.split("://", 1)[1])
    own_host, own_port = _split_host(host)
    default = _DEFAULT_PORTS.get(scheme)
    return origin_host == own_host and (origin_port or default) == (own_port or default)
