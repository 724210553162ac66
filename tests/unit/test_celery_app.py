"""The Celery app as configured from the settings: routes from models/names.py, retry knobs."""

from __future__ import annotations

from config import get_settings
from models.names import TASK_QUEUES, Queue, TaskName
from worker.celery_app import create_app


def test_retry_settings_reach_every_task_when_the_app_is_configured() -> None:
    settings = get_settings().model_copy(
        update={"task_max_retries": 7, "task_retry_backoff_max_s": 13}
    )
    app = create_app(settings)
    try:
        app.loader.import_default_modules()
        for name in (TaskName.START_REVIEW, TaskName.INGEST, TaskName.SWEEP):
            task = app.tasks[name]
            assert (task.max_retries, getattr(task, "retry_backoff_max", None)) == (7, 13)
    finally:
        app.close()


def test_every_task_is_routed_to_its_queue_and_every_queue_is_consumed() -> None:
    app = create_app(get_settings())
    try:
        app.loader.import_default_modules()
        routed = {name for name in app.tasks if name.startswith("plan.")}
        assert routed == {task.value for task in TASK_QUEUES}
        assert app.conf.task_routes == {
            task.value: {"queue": queue.value} for task, queue in TASK_QUEUES.items()
        }
        assert {queue.name for queue in app.conf.task_queues} == {q.value for q in Queue}
    finally:
        app.close()
