"""Every page in Chromium with each foreign model selected: no alert, no console error, the model's own layers."""

from __future__ import annotations

import time

import pytest

from .conftest import get_json
from .test_browser import PAGES, graph_title, no_console_errors, open_page, wait_until

pytestmark = pytest.mark.system  # a real browser against the real app

FIRST_MAP = {"byo": "c1", "residual": "stem", "rgb": "conv_a"}
LAST_MAP = {"byo": "c3", "residual": "strided", "rgb": "conv_b"}


def choose_model(dash_duo, name):
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    dash_duo.select_dcc_dropdown("#shell-model", value=name)
    dash_duo.wait_for_contains_text("#shell-model", name, timeout=30)


def no_alerts(dash_duo):
    shown = [e.text for e in dash_duo.find_elements(".alert-danger")]
    assert shown == [], shown
    assert dash_duo.find_elements(".dash-fe-error__title") == []


def slider_marks(dash_duo, slider_id):
    return dash_duo.driver.execute_script(
        f"return [...document.querySelectorAll('#{slider_id} .dash-slider-mark, #{slider_id} .rc-slider-mark-text')]"
        ".map(e => e.textContent)")


@pytest.mark.parametrize("name", ["byo", "residual", "rgb"])
def test_every_page_with_a_foreign_model(dash_duo, foreign_server, foreign, name):
    m = foreign[name]
    for path, text in PAGES:
        open_page(dash_duo, foreign_server, path)
        dash_duo.wait_for_contains_text("body", text, timeout=30)
        choose_model(dash_duo, name)
        if path == "/":
            dash_duo.wait_for_contains_text("#model-table", LAST_MAP[name], timeout=30)
            dash_duo.wait_for_contains_text("#model-meta", "imported from", timeout=30)
        elif path == "/maps":
            wait_until(lambda: graph_title(dash_duo, "maps-grid").startswith(f"{FIRST_MAP[name]}:"), 60,
                       "the first layer's grid", dash_duo)
            assert FIRST_MAP[name].replace("_", " ") in slider_marks(dash_duo, "maps-layer")
            wait_until(lambda: "for class" in graph_title(dash_duo, "maps-why"), 60, "the attribution", dash_duo)
            assert "Grad-CAM" in graph_title(dash_duo, "maps-why")
        elif path == "/dense":
            if m.dense_layers:
                wait_until(lambda: "Mean" in graph_title(dash_duo, "dense-means"), 120, "the class means", dash_duo)
                dash_duo.wait_for_contains_text("#dense-layer", m.dense_layers[-1], timeout=30)
            else:
                dash_duo.wait_for_contains_text("#dense-message", "no hidden dense layer", timeout=60)
        elif path == "/oip":
            wait_until(lambda: LAST_MAP[name].replace("_", " ") in slider_marks(dash_duo, "oip-layer"), 30,
                       "the model's layers on the slider", dash_duo)
            assert m.output_layer.replace("_", " ") in slider_marks(dash_duo, "oip-layer")
        elif path == "/insight":
            dash_duo.wait_for_contains_text("#insight-layer", LAST_MAP[name], timeout=30)
        time.sleep(1.5)  # the page's callbacks settle
        no_alerts(dash_duo)
        no_console_errors(dash_duo)


def test_oip_of_a_colour_model_class(dash_duo, foreign_server):
    """A run on the output layer of the colour model: classes, in colour, through the real job path."""
    from .test_browser import click_slider_mark, js_click

    open_page(dash_duo, foreign_server, "/oip")
    choose_model(dash_duo, "rgb")
    wait_until(lambda: "classes" in slider_marks(dash_duo, "oip-layer"), 30, "the layer slider", dash_duo)
    click_slider_mark(dash_duo, "oip-layer", "classes")
    dash_duo.wait_for_contains_text("#oip-links", "dense layer's units and the classes", timeout=30)
    js_click(dash_duo, "#oip-run")
    dash_duo.wait_for_contains_text("#oip-message", "Done", timeout=180)
    wait_until(lambda: dash_duo.driver.execute_script("return !!document.querySelector('#oip-animation .js-plotly-plot')"),
               30, "the animation", dash_duo)
    kinds = dash_duo.driver.execute_script(
        "const g = document.querySelector('#oip-animation .js-plotly-plot'); return g.data.map(t => t.type)")
    assert kinds[0] == "image"  # colour OIPs are shown in colour
    assert "class red" in dash_duo.find_element("#oip-result").text  # the class by its name
    no_alerts(dash_duo)
    no_console_errors(dash_duo)


def test_a_model_without_metadata_is_listed_greyed_out(dash_duo, foreign_server):
    open_page(dash_duo, foreign_server, "/")
    dash_duo.wait_for_contains_text("#shell-model", "default", timeout=30)
    dash_duo.find_element("#shell-model").click()
    wait_until(lambda: "mine (not imported)" in dash_duo.driver.find_element("tag name", "body").text, 10,
               "the greyed-out entry", dash_duo)
    title = dash_duo.driver.execute_script(
        "const s = [...document.querySelectorAll('span[title]')].find(e => e.textContent.includes('mine'));"
        "return s && s.title")
    assert title and "python -m cnnviz import" in title and "mine.keras" in title
    assert "mine" not in get_json(foreign_server + "/health")["models"]
