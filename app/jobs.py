"""What the pages with long engine jobs share: remembering a run, cancel, and finding it again.

A run is remembered in a shell store as ``{"key": token, "params": ..., "model": ...}``, where the
token is the result's cache key signed by the server (``Services.sign``): only keys the server
made come back to it.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import Input, Output, State, callback, no_update

from .services import CacheError, services
from .ui import alert


def remember_run(op: str, model: str, params: dict) -> tuple[dict, object]:
    """(the shell store's record of a new run, a message or None): also checks that the result
    cache can take the result, since a background job cannot say so itself when it cannot."""
    svc = services()
    record = {"key": svc.sign(svc.key(op, model, params)), "params": params, "model": model}
    problem = svc.results.writable()
    return record, (alert(str(CacheError(f"The result cache at {svc.results.directory} cannot be written "
                                         f"({problem}): this run's result cannot be kept. Free some space or fix "
                                         "its permissions.")), "danger") if problem else no_update)


def find_last(last, shown, what: str) -> tuple:
    """(token of the last run's result or no_update, poll disabled, message) for a page coming back.

    Polls (the second value False) while the last run's result is not in the cache yet.
    """
    if not isinstance(last, dict) or not last.get("key") or last.get("key") == shown:
        return no_update, True, no_update
    svc = services()
    if svc.unsign(last["key"]) is None:
        return no_update, True, no_update
    if svc.result(last["key"]) is None:
        return no_update, False, alert(f"Your last {what} is still running (or was cancelled); its result appears "
                                       "here when it is done.", "info")
    return last["key"], True, None


def add_job_callbacks(ids, last_store: str, what: str, restore_outputs: list[Output],
                      show: Callable[[object, dict, str, str], tuple], *,
                      accept: tuple[str, Callable[[dict, object], bool]] | None = None) -> None:
    """Registers a page's Cancel, find-last-run and restore callbacks.

    Args:
        ids: the page's id class (``CANCEL``, ``POLL``, ``FOUND``, ``KEY``, ``MESSAGE``).
        last_store: the shell store that holds the session's last run of this page.
        what: how the page calls a run, for messages ("run", "analysis").
        restore_outputs: what :func:`show` fills in, in order.
        show: ``(result, params, token, model) -> outputs`` for a result found on coming back.
        accept: (a store id, ``f(last, value) -> bool``): restore the last run only when true.
    """
    from .ids import Shell

    @callback(Output(ids.CANCEL, "title"), Input(ids.CANCEL, "n_clicks"), State(last_store, "data"),
              State(Shell.SESSION, "data"), prevent_initial_call=True)
    def cancel(n_clicks, last, session):
        """This user stops watching the run; the engine stops it when nobody else watches it."""
        if n_clicks and isinstance(last, dict):
            services().cancel(last.get("key"), session)
        return f"stop the running {what}"

    @callback(Output(ids.FOUND, "data"), Output(ids.POLL, "disabled"),
              Output(ids.MESSAGE, "children", allow_duplicate=True), Input(ids.POLL, "n_intervals"),
              State(last_store, "data"), State(ids.KEY, "data"), *([State(accept[0], "data")] if accept else []),
              prevent_initial_call="initial_duplicate")
    def look_for_last(_n, last, shown, *extra):
        """On coming back to the page: the last run's result, or a poll while it runs."""
        if accept and isinstance(last, dict) and not accept[1](last, extra[0]):
            return no_update, True, no_update
        return find_last(last, shown, what)

    @callback(*restore_outputs, Input(ids.FOUND, "data"), State(last_store, "data"), prevent_initial_call=True)
    def restore(token, last):
        """Shows an earlier run's result found by ``look_for_last``."""
        res = services().result(token) if token else None
        if res is None or not isinstance(last, dict) or last.get("key") != token:
            return (no_update,) * len(restore_outputs)
        return show(res, last["params"], token, last.get("model", "default"))
