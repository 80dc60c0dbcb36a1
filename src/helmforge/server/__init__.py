"""The ASGI application: composes the REST API and the web UI over shared services."""
