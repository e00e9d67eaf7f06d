"""The FastAPI service, versioned under /v1."""
