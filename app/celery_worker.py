"""Celery worker for the dashboard's background jobs: ``celery -A app.celery_worker worker``.

Building the app registers every background callback as a Celery task. The worker keeps
the same rule as the web process: TensorFlow runs only in the engine processes it starts
(``app.engine``), so Celery's forked pool processes never inherit a running TensorFlow.
"""

import os

os.environ.setdefault("CNNVIZ_JOBS", "celery")

from .celery_jobs import connect_heartbeat
from .services import services
from .shell import create_app

dash_app = create_app()
celery_app = services().manager.handle
connect_heartbeat()


@celery_app.task(name="cnnviz.oip")
def oip_task(model: str, items: list[dict], config: dict, key: str) -> dict:
    """An OIP search as a plain Celery task (for scripts and benchmarks): ``items`` and ``config`` are the fields of
    :class:`cnnviz.search.OIPItem` and :class:`~cnnviz.search.OIPConfig` (JSON); the summary is returned and the
    result cached by ``key``."""
    from cnnviz.search import OIPConfig, OIPItem

    svc = services()
    res = svc.engine.stream("oip", None, key=key, watcher="celery-task", cache=svc.results.directory, model=model,
                            items=[OIPItem(**it) for it in items], config=OIPConfig(**config))
    return {"steps_done": res.steps_done, "stopped": res.stopped,
            "end_activation": [float(a) for a in res.activation[:, -1]], "loop_seconds": res.loop_seconds}
