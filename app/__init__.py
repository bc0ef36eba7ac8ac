"""The cnnviz dashboard (web process) and its engine processes (``app.engine``).

``app.shell.create_app`` builds the Dash app; importing this package alone loads nothing,
so that an engine process (``python -m app.engine.server``) does not load Dash.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .shell import create_app

        return create_app
    raise AttributeError(name)
