"""Reading what Plotly sends on a click, in every form it takes.

Plotly 7 sends numpy-backed ``customdata`` as typed arrays, which reach the server as objects
with numeric keys (``{"0": 5, "1": 10}``) instead of lists; a heatmap's ``pointNumber`` is a
[row, column] pair; a click in a gap or on an axis may carry no point at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def as_list(value: Any) -> list:
    """A list from a list, a typed array sent as ``{"0": a, "1": b}``, or a scalar."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return [] if value is None else [value]


@dataclass(frozen=True)
class Point:
    x: Any
    y: Any
    customdata: list
    index: list  # pointNumber as a list: [row, column] on a heatmap, [i] on a bar


def click_point(click: Any) -> Point | None:
    """The first point of a ``clickData``, or None for a click that names none."""
    points = click.get("points") if isinstance(click, dict) else None
    if not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return None
    p = points[0]
    return Point(p.get("x"), p.get("y"), as_list(p.get("customdata")), as_list(p.get("pointNumber")))


def custom_int(click: Any, i: int = 0) -> int | None:
    """``customdata[i]`` of the clicked point as an int (None: no point, or a gap between tiles)."""
    point = click_point(click)
    try:
        v = int(float(point.customdata[i])) if point else None
    except (IndexError, TypeError, ValueError):
        return None
    return v if v is not None and v >= 0 else None
