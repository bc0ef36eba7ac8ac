"""Celery worker for the dashboard's background jobs: ``celery -A app.celery_worker worker``.

Building the app registers every background callback as a Celery task. The worker keeps
the same rule as the web process: TensorFlow runs only in the engine worker process it
spawns, so Celery's forked pool processes never inherit a running TensorFlow.
"""

import os

os.environ.setdefault("CNNVIZ_JOBS", "celery")

from . import create_app  # noqa: E402
from .services import services  # noqa: E402

dash_app = create_app()
celery_app = services().manager.handle
