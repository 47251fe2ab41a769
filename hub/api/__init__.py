"""The hub's HTTP API (FastAPI): one router per resource, schemas in `schemas`."""
