"""The running parts: Celery app (``celery -A worker``), unit of work, relay, HTTP API, CLI."""

from worker.celery_app import app

celery = app

__all__ = ["app", "celery"]
