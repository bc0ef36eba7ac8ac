"""The Dash app: the shell (navbar, shared stores, health) around the pages, on the engine.

Runs in the web process only; TensorFlow never loads here (see ``app.engine``).
"""

from __future__ import annotations

import logging
import secrets
import sys
import threading
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, callback, dcc, html

from . import ids
from .controls import dropdown
from .engine import Engine
from .services import init, open_cache, services
from .settings import Settings

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # uploads arrive base64-encoded inside callback requests
log = logging.getLogger("cnnviz")


def _navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(p["name"], href=p["relative_path"], active="exact"))
             for p in dash.page_registry.values()]
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("cnnviz", href="/"),
        dbc.Nav(links, navbar=True, className="me-auto"),
        html.Div([html.Span("Model ", className="text-light me-2"),
                  dropdown(ids.Shell.MODEL, clearable=False, style={"width": "14rem"})],
                 className="d-flex align-items-center"),
    ], fluid=True), color="dark", dark=True, className="mb-3")


def _job_manager(settings: Settings):
    """DiskcacheManager (one process, no server; jobs in threads, their progress in memory, see threaded_jobs) or
    CeleryManager (Redis broker and result backend)."""
    from .threaded_jobs import ThreadedDiskcacheManager

    if settings.jobs == "celery":
        from .celery_jobs import UniqueKeyCeleryManager, make_celery

        return UniqueKeyCeleryManager(make_celery(settings.redis_url))
    from .settings import job_limits

    return ThreadedDiskcacheManager(unpolled_s=job_limits()[2])


def _layout() -> html.Div:
    """Called per page load: a new browser tab gets its own session id (who watches which run)."""
    return html.Div([
        dcc.Location(id=ids.Shell.URL),
        dcc.Store(id=ids.Shell.SESSION, storage_type="session", data=secrets.token_hex(16)),
        dcc.Store(id=ids.Shell.IMAGE, storage_type="session", data={"source": "test", "index": 0}),
        dcc.Store(id=ids.Shell.REFRESH, data=0),
        dcc.Store(id=ids.Shell.OIP_LAST, storage_type="session"),
        dcc.Store(id=ids.Shell.INSIGHT_LAST, storage_type="session"),
        dcc.Store(id=ids.Shell.UNIT_LAST, storage_type="session"),
        dcc.Interval(id=ids.Shell.HEALTH_POLL, interval=10_000),
        _navbar(),
        dbc.Container([html.Div(id=ids.Shell.ALERT), dash.page_container], fluid=True),
    ])


def _guard_callbacks(app: Dash) -> None:
    """A malformed callback request gets 400 and one log line, not a 500 with a traceback."""
    from flask import jsonify, request

    endpoint = app.config.routes_pathname_prefix + "_dash-update-component"
    view = app.server.view_functions[endpoint]

    def guarded():
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # JSON nested thousands deep: the parser gives up, and so does the request
            body = None
        if not (isinstance(body, dict) and isinstance(body.get("output"), str)
                and isinstance(body.get("inputs", []), list) and isinstance(body.get("state", []), list)):
            log.warning("cnnviz: refused a malformed callback request from %s", request.remote_addr)
            return jsonify({"error": "Malformed callback request."}), 400
        try:
            return view()
        except dash.exceptions.PreventUpdate:
            raise
        except Exception as e:  # the pages catch their own errors: what is left is a bad request
            if getattr(e, "code", None):  # an HTTP error raised on purpose (413, 204…)
                raise
            log.warning("cnnviz: refused a callback request %s (%s: %s)", body.get("output", "")[:80],
                        type(e).__name__, str(e)[:200])
            return jsonify({"error": "Malformed callback request."}), 400

    app.server.view_functions[endpoint] = guarded


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Dash:
    """Builds the Dash app; starts the engine processes unless an engine is given.

    Raises:
        SetupError: a cache folder others can write, a read-only one, an unsafe exposure.
    """
    settings = settings or Settings.from_env()
    results, secret = open_cache(settings)  # refuse a hostile cache before starting anything
    engine = engine or Engine.start(settings.model_dir, settings.engine_ops)
    svc = init(settings, engine, results, secret)
    manager = _job_manager(settings)
    svc.manager = manager
    # `app` in a checkout, `cnnviz_dashboard` when installed; the stylesheets lie beside the package then
    here = Path(__file__).resolve().parent
    assets = here / "assets" if (here / "assets").is_dir() else here.parent / "assets"
    app = Dash(__package__, use_pages=True, pages_folder="pages", background_callback_manager=manager,
               assets_folder=str(assets),
               suppress_callback_exceptions=True, title="cnnviz")
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    if settings.auth:
        import dash_auth

        # /health stays open for container health checks; with auth on it says only ok/degraded.
        dash_auth.BasicAuth(app, {settings.auth_user: settings.auth_password}, public_routes=["/health"])
    app.layout = _layout
    _guard_callbacks(app)
    from .figures import warm_up

    threading.Thread(target=warm_up, name="plotly-warm-up", daemon=True).start()

    @app.server.route("/health")
    def health():
        from flask import jsonify

        info, lanes, running = {}, svc.engine.status(), None
        if all(s == "ok" for s in lanes.values()):  # a lane that restarts is reported as it is, without waiting
            try:
                info = svc.engine.call("health", timeout=3)
                running = sum(not j.done for j in svc.engine.call("list_jobs", timeout=3))
            except Exception as e:  # noqa: BLE001 - a health check reports, it does not raise
                info = {"error": str(e)}
        cache_error, jobs_error = svc.results.writable(), svc.jobs_problem()
        models = svc.models()
        ok = (all(s == "ok" for s in lanes.values()) and "error" not in info and not cache_error and not jobs_error
              and bool(models))
        body: dict = {"status": "ok" if ok else "degraded"}
        if not settings.auth:  # with auth on, an anonymous caller learns nothing but the status
            body.update({"engine": lanes, "engine_error": info.get("error"), "cache_error": cache_error,
                         "models": models,
                         "default_model": "default" if "default" in models else (models[0] if models else None),
                         "gpu": info.get("gpu"), "device": info.get("device"), "running_jobs": running,
                         "jobs": settings.jobs, "jobs_error": jobs_error,
                         "tensorflow_in_web_process": "tensorflow" in sys.modules})
        return jsonify(body), (200 if ok else 503)

    return app


@callback(Output(ids.Shell.MODEL, "options"), Output(ids.Shell.MODEL, "value"),
          Input(ids.Shell.REFRESH, "data"), State(ids.Shell.MODEL, "value"))
def _model_options(_refresh, current):
    from cnnviz.catalog import import_command, unimported_models

    svc = services()
    names = svc.models()
    value = current if current in names else ("default" if "default" in names else (names[0] if names else None))
    # a .keras without metadata: listed, greyed out, with the command that brings it in as its tooltip
    folder = svc.settings.model_dir
    pending = [{"label": html.Span(f"{n} (not imported)", title=f"Import it first: {import_command(folder, n)}"),
                "value": f"unimported:{n}", "disabled": True, "search": n} for n in unimported_models(folder)]
    return [{"label": n, "value": n} for n in names] + pending, value


@callback(Output(ids.Shell.ALERT, "children"), Input(ids.Shell.HEALTH_POLL, "n_intervals"))
def _banner(_n):
    """What the server cannot do right now, on every page, so that nothing fails silently."""
    from .ui import alert

    svc = services()
    problems = []
    if not svc.engine.ok:
        problems.append("The engine stopped and is restarting: runs started now fail until it is back (seconds).")
    cache_error = svc.results.writable()
    if cache_error:
        problems.append(f"The result cache at {svc.results.directory} cannot be written ({cache_error}): results "
                        "are not kept, and background jobs cannot report. Free some space or fix its permissions.")
    jobs_error = svc.jobs_problem()
    if jobs_error:
        problems.append(f"{jobs_error}: runs wait (or fail) until it is back; the page picks up where it was.")
    return [alert(p, "warning") for p in problems] or None


logging.getLogger("werkzeug").setLevel(logging.WARNING)
