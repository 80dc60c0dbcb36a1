"""How helmforge runs on uvicorn, the same for ``helmforge serve``, each worker of
``serve --workers N`` and the tests' live servers.

``proxy_headers`` is off: uvicorn would believe ``X-Forwarded-For`` and ``-Proto`` from any
peer on 127.0.0.1 (any local process, or a tunnel); the application believes them only from
``HELMFORGE_TRUSTED_PROXIES`` (``helmforge.api.middlewares.ClientAddressMiddleware``).
"""

from __future__ import annotations

__all__ = ["uvicorn_options"]

from typing import Any


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` or ``uvicorn.Config``, besides the app and where
    it listens."""
    return {"log_level": "warning", "access_log": False, "proxy_headers": False}
