"""The running processes: Celery app (``celery -A worker``), outbox relay, CLI, logs, metrics."""

from worker.celery_app import app

celery = app

__all__ = ["app", "celery"]
