"""How often progress crosses the socket, and how much of it: one rule for every long job of the engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PROGRESS_EVERY_S = 0.4  # Dash polls about twice a second; faster progress would be dropped
LIVE_ITEMS = 8  # an OIP run's progress carries the first few searches' images only: the page shows no more


def throttled(final: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A gate for progress: True at most every PROGRESS_EVERY_S, and always for ``final`` reports."""
    last = [0.0]

    def due(p: Any) -> bool:
        now = time.monotonic()
        if final(p) or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            return True
        return False

    return due
