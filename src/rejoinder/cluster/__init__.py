"""Scale-out on Ray Serve (the `[cluster]` extra): the same server as deployments.

`settings` lays the cluster out, `models` are the STT/LLM/TTS deployments, `remote` the stage
objects that call them, `host` the session-host ingress, `bridge` its ASGI-to-aiohttp forwarding,
`app` builds and starts it all, `command` is `rejoinder cluster`.
"""
