"""REST API (FastAPI routers)."""
