"""The unit page's callbacks as plain functions: links with bad parts, previous/next at the ends, the card."""

from __future__ import annotations

import pytest
from dash.exceptions import PreventUpdate

from app.requests import UnitRequest

from .conftest import triggered


def _fill(model, form, pending_model=None):
    from app.pages import unit as page

    return page.fill_controls(model, {"model": pending_model, "form": form, "run": False}, None, None, None, 0)


def test_links_with_bad_parts_say_what_they_show(services):
    _, layer, top, value, _, pending, _, message = _fill("default", {"layer": "Nope", "index": "abc"})
    assert (layer, top, value, pending) == ("Conv2D_3", 63, 0, None)
    assert "default has no searchable layer 'Nope': showing Conv2D_3." in str(message)
    _, layer, top, value, *_ = _fill("default", {"layer": "Dense_2", "index": "7"})
    assert (layer, top, value) == ("Dense_2", 9, 7)
    _, layer, _, value, _, _, _, message = _fill("default", {"layer": "Conv2D_3", "index": "99"}, "nope")
    assert (layer, value) == ("Conv2D_3", 63) and "units 0–63: showing unit 63. Received: 99" in str(message)
    _, layer, _, value, *_ = _fill("rgb", {"layer": "classes", "index": "green"})  # a class by its name
    assert layer == "classes" and value == 1


def test_previous_and_next_stop_at_the_ends(services):
    from app.pages import unit as page

    with triggered("unit-next.n_clicks", 1):
        assert page.step(None, 1, 5, 63) == 6
        with pytest.raises(PreventUpdate):
            page.step(None, 1, 63, 63)
    with triggered("unit-prev.n_clicks", 1):
        assert page.step(1, None, 5, 63) == 4
        with pytest.raises(PreventUpdate):
            page.step(1, None, 0, 63)
    with pytest.raises(PreventUpdate):  # controls that make no request (a layer on its way) start nothing
        page.autorun("Nope", 3, "default", None)


def test_requests_are_checked(services):
    from app.controls import info

    assert UnitRequest.from_form(info("default"), layer="Dense_1", index=69).unit.index == 69
    with pytest.raises(ValueError, match="unit must be in 0..69"):
        UnitRequest.from_form(info("default"), layer="Dense_1", index=70)
    with pytest.raises(ValueError, match="layer must be one of"):
        UnitRequest.from_form(info("default"), layer="Flatten", index=0)
    a = UnitRequest.from_form(info("default"), layer="Conv2D_3", index=13)
    assert a.params() != UnitRequest.from_form(info("default"), layer="Conv2D_3", index=14).params()
