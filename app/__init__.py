"""The cnnviz dashboard: Dash pages over the engine worker, background jobs on diskcache."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import diskcache
from dash import Dash, Input, Output, State, callback, dcc, html

from . import ids
from .engine import Engine
from .services import init, services
from .settings import Settings

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # uploads arrive base64-encoded inside callback requests


def _navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(p["name"], href=p["relative_path"], active="exact"))
             for p in dash.page_registry.values()]
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("cnnviz", href="/"),
        dbc.Nav(links, navbar=True, className="me-auto"),
        html.Div([html.Span("Model ", className="text-light me-2"),
                  dcc.Dropdown(id=ids.Shell.MODEL, clearable=False, style={"width": "14rem"})],
                 className="d-flex align-items-center"),
    ], fluid=True), color="dark", dark=True, className="mb-3")


def _job_manager(settings: Settings):
    """DiskcacheManager (one process, no server; jobs in threads, see threaded_jobs) or CeleryManager
    (Redis broker and result backend)."""
    if settings.jobs == "celery":
        from celery import Celery

        celery_app = Celery("cnnviz", broker=settings.redis_url, backend=settings.redis_url)
        # One job at a time per worker process, and results that expire: jobs are long and few.
        celery_app.conf.update(worker_prefetch_multiplier=1, result_expires=24 * 3600,
                               broker_connection_retry_on_startup=True)
        return dash.CeleryManager(celery_app)
    from .threaded_jobs import ThreadedDiskcacheManager

    return ThreadedDiskcacheManager(diskcache.Cache(str(settings.cache_dir / "jobs")))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Dash:
    """Builds the Dash app; starts the engine worker unless one is given."""
    settings = settings or Settings.from_env()
    engine = engine or Engine.start(settings.model_dir)
    svc = init(settings, engine)
    manager = _job_manager(settings)
    svc.manager = manager
    app = Dash(__name__, use_pages=True, pages_folder="pages", background_callback_manager=manager,
               assets_folder=str(Path(__file__).resolve().parent.parent / "assets"),
               suppress_callback_exceptions=True,
               title="cnnviz")
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    if settings.auth_user:
        import dash_auth

        # /health stays open for container health checks; it reveals no data.
        dash_auth.BasicAuth(app, {settings.auth_user: settings.auth_password}, public_routes=["/health"])
    app.layout = html.Div([
        dcc.Location(id=ids.Shell.URL),
        dcc.Store(id=ids.Shell.IMAGE, storage_type="session", data={"source": "test", "index": 0}),
        dcc.Store(id=ids.Shell.REFRESH, data=0),
        dcc.Store(id=ids.Shell.OIP_LAST, storage_type="session"),
        dcc.Store(id=ids.Shell.INSIGHT_LAST, storage_type="session"),
        _navbar(),
        dbc.Container(dash.page_container, fluid=True),
    ])

    @app.server.route("/health")
    def health():
        from flask import jsonify

        ok, info = True, {}
        try:
            info = svc.engine.call("health")
        except Exception as e:  # noqa: BLE001 - a health check reports, it does not raise
            ok, info = False, {"error": str(e)}
        models = svc.models()
        return jsonify({"status": "ok" if ok and models else "degraded", "models": models,
                        "default_model": "default" if "default" in models else (models[0] if models else None),
                        "gpu": info.get("gpu"), "device": info.get("device"), "running_jobs": info.get("running_jobs"),
                        "jobs": settings.jobs,
                        "tensorflow_in_web_process": "tensorflow" in sys.modules}), (200 if ok else 503)

    return app


@callback(Output(ids.Shell.MODEL, "options"), Output(ids.Shell.MODEL, "value"),
          Input(ids.Shell.REFRESH, "data"), State(ids.Shell.MODEL, "value"))
def _model_options(_refresh, current):
    names = services().models()
    value = current if current in names else ("default" if "default" in names else (names[0] if names else None))
    return [{"label": n, "value": n} for n in names], value


logging.getLogger("werkzeug").setLevel(logging.WARNING)
