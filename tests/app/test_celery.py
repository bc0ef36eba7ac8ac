"""Background jobs through Dash's CeleryManager: real Redis, a real Celery worker, the real app."""

from __future__ import annotations

import pytest

from .test_browser import check_oip_cancel, check_oip_run, check_training

pytestmark = pytest.mark.system  # Redis, a Celery worker, the real app and a browser


def test_oip_job_through_celery(dash_duo, celery_server):
    url, worker_log = celery_server
    check_oip_run(dash_duo, url)
    worker_log.seek(0)
    assert "succeeded" in worker_log.read()  # the task really ran on the Celery worker


def test_oip_cancel_through_celery(dash_duo, celery_server):
    check_oip_cancel(dash_duo, celery_server[0], engine_jobs=False)


def test_training_through_celery(dash_duo, celery_server):
    check_training(dash_duo, celery_server[0], "celery-run")
