"""What the pages with long engine jobs share: cancel, and finding the last run on coming back."""

from __future__ import annotations

from dash import no_update

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
