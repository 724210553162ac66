"""The HTTP API: FastAPI app, auth, routes and error envelope."""
