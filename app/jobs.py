"""What the pages with long engine jobs share: cancel, and finding the last run on coming back."""

from __future__ import annotations

from collections.abc import Callable

from dash import Input, Output, State, callback, no_update

from .services import services
from .ui import alert
from .worker import cancel_flag


def cancel_job(last) -> None:
    """Stops the engine job of the session's last run (Dash's own cancel only ends the process
    that watches it): a flag in the shared result cache for an engine on any machine, and a
    direct cancel for this machine's engine."""
    if not (isinstance(last, dict) and last.get("key")):
        return
    svc = services()
    svc.results.set(cancel_flag(str(last["key"])), True, expire=3600)
    try:
        svc.engine.call("cancel", key=str(last["key"]))
    except Exception:  # noqa: BLE001 - nothing running: nothing to stop
        pass


def find_last(last, shown, what: str) -> tuple:
    """(key of the last run's result or no_update, poll disabled, message) for a page coming back.

    Polls (the second value False) while the last run's result is not in the cache yet.
    """
    if not isinstance(last, dict) or not last.get("key") or last.get("key") == shown:
        return no_update, True, no_update
    if services().results.get(str(last["key"])) is None:
        return no_update, False, alert(f"Your last {what} is still running (or was cancelled); its result appears "
                                       "here when it is done.", "info")
    return last["key"], True, None


def add_job_callbacks(ids, last_store: str, what: str, restore_outputs: list[Output],
                      show: Callable[[dict, dict, str, str], tuple], *,
                      accept: tuple[str, Callable[[dict, object], bool]] | None = None) -> None:
    """Registers a page's Cancel, find-last-run and restore callbacks.

    Args:
        ids: the page's id class (``CANCEL``, ``POLL``, ``FOUND``, ``KEY``, ``MESSAGE``).
        last_store: the shell store that holds the session's last run of this page.
        what: how the page calls a run, for messages ("run", "analysis").
        restore_outputs: what :func:`show` fills in, in order.
        show: ``(result, params, key, model) -> outputs`` for a result found on coming back.
        accept: (a store id, ``f(last, value) -> bool``): restore the last run only when true.
    """
    @callback(Output(ids.CANCEL, "title"), Input(ids.CANCEL, "n_clicks"), State(last_store, "data"),
              prevent_initial_call=True)
    def cancel(n_clicks, last):
        if n_clicks:
            cancel_job(last)
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
    def restore(key, last):
        """Shows an earlier run's result found by ``look_for_last``."""
        res = services().results.get(str(key)) if key else None
        if res is None or not isinstance(last, dict) or last.get("key") != key:
            return (no_update,) * len(restore_outputs)
        return show(res, last["params"], key, last.get("model", "default"))
