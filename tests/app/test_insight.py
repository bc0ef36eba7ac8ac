"""The Insight page: callbacks as plain functions, then the real page in headless Chromium."""

from __future__ import annotations

import csv
import io
import time

import pytest
from dash import no_update

from .conftest import get_json
from .test_browser import click_plot, js_click, no_console_errors, open_page, set_input, start_run, wait_until

SESSION = "5" * 32
FORM = dict(analysis="sweep", layer="Conv2D_3", map=5, node_on=False, node_x=1, node_y=1, model_b="default",
            waves=[1, 4], seeds=2, steps=60, k=9, method="redirected", noise="lowpass")


def test_bad_controls_show_a_message_and_run_nothing(services):
    from app.pages.insight import run

    out = run(lambda _: None, 1, None, "default", {**FORM, "waves": []}, SESSION)
    assert out[:2] == (no_update, no_update) and "at least one noise wavelength" in str(out[2].children)


def test_run_caches_shows_and_exports(services):
    from app.pages.insight import PAGE, _render, export_file, run

    seen = []
    form = {**FORM, "layer": "Conv2D_1", "steps": 10, "seeds": 1}
    record, color, msg = run(seen.append, 1, None, "default", form, SESSION)
    assert msg is None and color == "success" and seen[-1] == (100, "done")
    model, _, request = PAGE.read(record)
    res = services.result(services.sign(PAGE.key(model, request)))
    assert res.layer == "Conv2D_1" and res.maps == list(range(32))
    view, csv_off, png_off, _ = _render(res, request, model)
    assert "32 maps × 2 wavelengths × 1 seeds" in str(view[1].children) and not csv_off and not png_off
    again = []
    run(again.append, 1, None, "default", form, SESSION)
    assert again == [(100, "done")]  # from the cache: no job, no progress
    for kind in ("csv", "png"):
        out = export_file(kind, res, request, model)
        assert out["filename"] == f"cnnviz-sweep-default-Conv2D_1.{kind}"
        if kind == "csv":
            rows = list(csv.DictReader(io.StringIO(out["content"])))
            assert len(rows) == 32 * 2 and rows[0]["dead"] in ("True", "False")
        else:
            import base64

            assert base64.b64decode(out["content"])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_hand_of_mnist_analysis(services):
    from app.pages.insight import PAGE, _render, export_file, run, table_detail

    form = {**FORM, "analysis": "hand", "layer": "Conv2D_1", "waves": [4], "seeds": 2, "steps": 5}
    record, _, msg = run(lambda _: None, 1, None, "default", form, SESSION)
    model, _, request = PAGE.read(record)
    res = services.result(services.sign(PAGE.key(model, request)))
    view, *_ = _render(res, request, model)
    assert msg is None and "Hand of MNIST of Conv2D_1: " in str(view[1].children)
    # 3 families at λ=4, one method; 4 selection blocks and a held-out one of 16 searches each
    assert len(res.settings) == 3 and res.block_scores.shape == (5, 3, 32) and res.block == 16
    assert res.top_labels.shape == (32, 9) and res.top_images.shape == (32, 9, 28, 28)
    assert res.statement().startswith(f"map {res.maps[res.candidate]}:" if res.stable else "no stable candidate")
    assert export_file("png", res, request, model)["filename"].endswith(".png")
    detail = str(table_detail({"rowId": str(res.maps[res.candidate])}, record))
    assert f"Map {res.maps[res.candidate]}: held-out OIP in every setting" in detail


@pytest.mark.parametrize("analysis", ["sweep", "reproducibility", "exemplars", "compare",
                                      pytest.param("hand", marks=pytest.mark.system), "dissect", "circuit"])
def test_every_analysis_on_a_colour_model(services, analysis):
    """The colour model of tests/foreign.py through every analysis, its view and both exports."""
    from app.pages.insight import PAGE, _render, export_file, run

    form = {**FORM, "analysis": analysis, "layer": "conv_b", "map": 1, "waves": [4], "seeds": 2, "steps": 4,
            "model_b": "rgb"}
    record, color, msg = run(lambda _: None, 1, None, "rgb", form, SESSION)
    assert color == "success" and msg is None, msg
    model, _, request = PAGE.read(record)
    res = services.result(services.sign(PAGE.key(model, request)))
    view, _, png_off, _ = _render(res, request, model)
    assert "Shown: rgb" in str(view[0])
    for kind in ("csv", "png")[:1 if png_off else 2]:
        assert export_file(kind, res, request, model)["filename"].endswith(kind)
    if png_off:
        with pytest.raises(ValueError, match="no gallery"):
            export_file("png", res, request, model)


def _run_and_wait(dash_duo, text, timeout=120):
    time.sleep(0.5)
    js_click(dash_duo, "#insight-run")
    wait_until(lambda: text in dash_duo.find_element("#insight-result").text, timeout, repr(text), dash_duo)


@pytest.mark.system
def test_sweep_then_reproducibility_in_the_browser(dash_duo, server):
    open_page(dash_duo, server, "/insight?analysis=sweep&layer=Conv2D_2")
    dash_duo.wait_for_element("#insight-run", timeout=30)
    for w in (2, 4, 7):  # keep λ = 1 and 14
        js_click(dash_duo, f"#insight-waves input[value='{w}']")
    set_input(dash_duo, "#insight-steps input", 20)
    set_input(dash_duo, "#insight-seeds input", 1)
    _run_and_wait(dash_duo, "Dead searches per wavelength")
    assert "Conv2D_2, lowpass noise: 64 maps × 2 wavelengths × 1 seeds" in dash_duo.find_element("#insight-result").text
    assert dash_duo.find_element("#insight-progress").text == "done"
    assert not dash_duo.find_element("#insight-csv").get_attribute("disabled")
    # a click on a cell of the heatmap shows that map's OIP at every wavelength
    from selenium.webdriver.common.action_chains import ActionChains

    drag = dash_duo.find_element("#insight-sweep .nsewdrag")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", drag)
    ActionChains(dash_duo.driver).move_to_element_with_offset(drag, 5, 5).click().perform()
    wait_until(lambda: "of Conv2D_2: best OIP at each wavelength" in dash_duo.driver.execute_script(
        "const g = document.querySelector('#insight-detail .js-plotly-plot');"
        "return g && g.layout.title ? g.layout.title.text : ''"), 30, "the map's OIPs per wavelength", dash_duo)
    wait_until(lambda: dash_duo.driver.execute_script(  # brought into view, not left below the fold
        "const r = document.getElementById('insight-detail').getBoundingClientRect();"
        "return r.top >= 0 && r.top < window.innerHeight"), 10, "the detail in view", dash_duo)
    # a different analysis: the sortable table, ordered by score
    js_click(dash_duo, "#insight-analysis input[value='reproducibility']")
    _run_and_wait(dash_duo, "Most reproducible map of Conv2D_2")
    wait_until(lambda: len(dash_duo.find_elements("#insight-table .ag-row")) >= 5, 30, "table rows", dash_duo)

    def scores():
        cells = dash_duo.find_elements("#insight-table .ag-row [col-id='score']")
        rows = sorted(cells, key=lambda c: c.location["y"])
        return [float(c.text.replace("\u2212", "-")) for c in rows if c.text]  # d3 writes a true minus sign

    s = scores()
    assert s == sorted(s, reverse=True), s
    js_click(dash_duo, "#insight-table .ag-header-cell[col-id='score'] .ag-header-cell-label")  # now ascending
    wait_until(lambda: scores() == sorted(scores()) and scores() != s, 10, "ascending scores", dash_duo)
    js_click(dash_duo, "#insight-table .ag-row[row-index='0'] .ag-cell[col-id='map']")
    wait_until(lambda: "every search" in dash_duo.driver.execute_script(
        "const g = document.querySelector('#insight-detail .js-plotly-plot');"
        "return g && g.layout.title ? g.layout.title.text : ''"), 30, "the map's searches", dash_duo)
    # away and back: the last result is shown again, from the cache
    open_page(dash_duo, server, "/maps")
    open_page(dash_duo, server, "/insight")
    wait_until(lambda: "Most reproducible map of Conv2D_2" in dash_duo.find_element("#insight-result").text, 30,
               "the restored result", dash_duo)
    assert dash_duo.find_element("#insight-analysis input[value='reproducibility']").is_selected()
    no_console_errors(dash_duo)


@pytest.mark.system
def test_lab_links_to_exemplars_and_compare_runs(dash_duo, server):
    open_page(dash_duo, server, "/oip")
    dash_duo.wait_for_element("#oip-run", timeout=30)
    set_input(dash_duo, "#oip-map", 13)
    wait_until(lambda: "map=13" in (dash_duo.find_element("#oip-links a").get_attribute("href") or ""), 20,
               "the link to map 13", dash_duo)
    js_click(dash_duo, "#oip-links a")
    dash_duo.wait_for_element("#insight-run", timeout=30)
    assert dash_duo.find_element("#insight-map").get_attribute("value") == "13"
    set_input(dash_duo, "#insight-steps input", 20)
    _run_and_wait(dash_duo, "the OIP reaches")
    text = dash_duo.find_element("#insight-result").text
    assert "Conv2D_3 map 13" in text and "ratio" in text
    # and back: the map goes to the lab, which opens preset to it
    js_click(dash_duo, "#insight-lab-link")
    wait_until(lambda: dash_duo.find_element("#oip-map").get_attribute("value") == "13", 30, "the lab on map 13",
               dash_duo)
    wait_until(lambda: dash_duo.find_element("#oip-map-slider [role='slider']").get_attribute("aria-valuenow") == "13",
               10, "the map slider on 13 (synced from the box)", dash_duo)
    # compare: the model with itself matches every map to itself, in order
    open_page(dash_duo, server, "/insight?analysis=compare&layer=Conv2D_1&b=default")  # other models may exist
    dash_duo.wait_for_element("#insight-run", timeout=30)
    set_input(dash_duo, "#insight-steps input", 10)
    _run_and_wait(dash_duo, "mean matched correlation")
    text = dash_duo.find_element("#insight-result").text
    assert "mean matched correlation 1.000" in text and "100.0 % matched to the same index" in text
    # a click on a cell of the correlation matrix shows that pair (the diagonal holds the matched pairs)
    click_plot(dash_duo, "insight-correlation", 3, 3)
    wait_until(lambda: "(a matched pair)" in dash_duo.driver.execute_script(
        "const g = document.querySelector('#insight-detail .js-plotly-plot');"
        "return g && g.layout.title ? g.layout.title.text : ''"), 30, "the pair's OIPs", dash_duo)
    no_console_errors(dash_duo)


@pytest.mark.system
def test_cancel_stops_a_long_analysis(dash_duo, server):
    start_run(dash_duo, server, "/insight?analysis=sweep&layer=Conv2D_3", "insight",
              {"#insight-steps input": 500, "#insight-seeds input": 4})
    wait_until(lambda: "sweep searches" in dash_duo.find_element("#insight-progress").text, 60, "progress", dash_duo)
    js_click(dash_duo, "#insight-cancel")
    wait_until(lambda: not dash_duo.find_element("#insight-run").get_attribute("disabled"), 30, "Run again", dash_duo)
    wait_until(lambda: get_json(server + "/health")["running_jobs"] == 0, 30, "the engine job to stop", dash_duo)
    assert "Dead searches" not in dash_duo.find_element("#insight-result").text
    no_console_errors(dash_duo)


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_dissection_and_circuit_analyses(services, monkeypatch):
    from app.pages.insight import PAGE, _render, export_file, run

    monkeypatch.setattr("app.requests.DISSECT_IMAGES", 500)  # the analysis as it runs, on fewer images

    form = {**FORM, "analysis": "dissect", "layer": "Conv2D_3"}
    record, color, msg = run(lambda _: None, 1, None, "default", form, SESSION)
    model, _, request = PAGE.read(record)
    assert msg is None and color == "success" and request.params() == {"analysis": "dissect", "layer": "Conv2D_3",
                                                                         "images": 500}
    res = services.result(services.sign(PAGE.key(model, request)))
    view, csv_off, png_off, _ = _render(res, request, model)
    assert f"{int(res.labelled.sum())} of 64 units of Conv2D_3 carry a label" in str(view[1].children)
    assert not csv_off and png_off  # numbers to export, no gallery
    assert len(list(csv.DictReader(io.StringIO(export_file("csv", res, request, model)["content"])))) == 64
    from app.pages.insight import table_detail

    detail = table_detail({"rowId": "13"}, record)
    assert f"Conv2D_3 unit 13: its region (red) and “{res.concepts[res.best[13]]}” (green)" in str(detail.figure)
    assert res.example_regions[13].any() and res.example_images.shape == (64, 4, 28, 28)
    form = {**FORM, "analysis": "circuit", "layer": "Conv2D_3", "map": 13, "seeds": 5}  # seeds: no part in it
    record, color, msg = run(lambda _: None, 1, None, "default", form, SESSION)
    model, _, request = PAGE.read(record)
    res = services.result(services.sign(PAGE.key(model, request)))
    view, _, png_off, _ = _render(res, request, model)
    assert "Zeroing the top 3 incoming units cuts Conv2D_3 map 13 by" in str(view[1].children) and not png_off
    assert res.incoming_layer == "Conv2D_2" and res.top_drop > res.random_drops.mean()
    assert res.oip_unit.shape == (28, 28) and res.oip_incoming.shape == (5, 28, 28)
    assert "strongest incoming units" in view[2].figure.layout.title.text and "Open Conv2D_2 map" in str(view[4])
    assert export_file("png", res, request, model)["filename"].endswith(".png")


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_training_timeline_analysis(services, foreign, mnist):
    from app.pages.insight import PAGE, _render, export_file, run
    from cnnviz.config import TrainConfig
    from cnnviz.training import train

    form = {**FORM, "analysis": "timeline", "layer": "Conv2D_3", "waves": [4, 7], "seeds": 2, "steps": 10}
    _, color, msg = run(lambda _: None, 1, None, "default", form, SESSION)
    assert "default has no training history" in str(msg)  # the committed model predates snapshots
    train(TrainConfig(subset=1000, validation=1000, epochs=1, batch_size=50, learning_rate=0.05),
          foreign["dir"] / "fresh.keras", data=mnist)
    record, color, msg = run(lambda _: None, 1, None, "fresh", form, SESSION)
    assert msg is None and color == "success", msg
    model, _, request = PAGE.read(record)
    res = services.result(services.sign(PAGE.key(model, request)))
    assert res.epochs == [0, 1] and res.images.shape[:3] == (2, 64, 2) and request.searches.wavelengths == (4.0,)
    view, _, png_off, _ = _render(res, request, model)
    animation = view[2].figure
    assert len(animation.frames) == 2 and "epoch" in str(animation.layout.sliders[0].currentvalue.prefix)
    assert animation.frames[0].layout.title.text.startswith(f"epoch 0: test accuracy {res.accuracy[0]:.1%}")
    assert "mean correlation of each map's OIP with its final one" in str(view[1].children)
    assert not png_off and export_file("png", res, request, model)["filename"].endswith(".png")
