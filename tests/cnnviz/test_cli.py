import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnviz.cli import main

from ..conftest import ROOT


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json(capsys):
    code, out, _ = run(capsys, "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert set(info) == {"model", "input_shape", "classes", "layers", "dataset", "standardization", "test_accuracy",
                         "device"}
    assert info["input_shape"] == [28, 28, 1] and info["classes"] == [str(d) for d in range(10)]
    assert info["layers"][4] == {"name": "Conv2D_3", "type": "Conv2D", "output_shape": [3, 3, 64], "params": 36928,
                                 "receptive_field": 18, "jump": 4, "role": "map"}
    assert [r["role"] for r in info["layers"]] == ["map"] * 5 + ["other", "dense", "output"]
    assert info["test_accuracy"] >= 0.99 and info["device"].startswith(("CPU", "GPU"))


def test_oip_json_and_files(capsys, tmp_path):
    code, out, _ = run(capsys, "oip", "--layer", "Conv2D_2", "--maps", "3,5", "--seeds", "2", "--wavelength", "2,7",
                       "--steps", "12", "--out", str(tmp_path), "--json")
    assert code == 0
    res = json.loads(out)
    assert [(i["map"], i["seed"]) for i in res["items"]] == [(3, 0), (3, 1), (5, 0), (5, 1)]
    assert res["items"][0]["wavelength"] == [2.0, 7.0] and res["image_steps_per_second"] > 0
    with np.load(tmp_path / "oip.npz") as npz:
        assert npz["images"].shape == (4, 28, 28) and npz["activation"].shape == (4, 13)
        assert npz["frames"].shape[1:] == (4, 28, 28)
        np.testing.assert_allclose(npz["activation"][:, -1], [i["end_activation"] for i in res["items"]], rtol=1e-6)
        with Image.open(tmp_path / "oip.gif") as gif:
            assert gif.n_frames == len(npz["frames"])
    with Image.open(tmp_path / "oip.png") as png:
        assert png.format == "PNG"


def test_activations_png(capsys, tmp_path):
    code, out, _ = run(capsys, "activations", "--image-index", "0", "--layer", "Conv2D_2", "--out", str(tmp_path / "a.png"),
                       "--json")
    assert code == 0 and json.loads(out)["label"] == 7
    with Image.open(tmp_path / "a.png") as png:
        assert png.size[0] > 28


@pytest.mark.parametrize("argv,match", [
    (["oip", "--layer", "Conv9", "--maps", "0"], "Existing layers|layer of maps"),
    (["oip", "--layer", "Conv2D_3", "--maps", "64"], r"maps must be in 0..63"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0", "--node", "3,1"], r"node must be"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0", "--node", "a"], r"--node must be X,Y"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0", "--wavelength", "40"], "wavelength must be in 1..28"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0", "--steps", "5000"], "--steps must be in 1..2000"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0-63", "--seeds", "64", "--wavelength", "1"], "At most 1024 items"),
    (["oip", "--layer", "Conv2D_3", "--maps", "0", "--model", "/nonexistent/m.keras"], "Model file not found"),
    (["activations", "--image-index", "10000", "--out", "x.png"], r"--image-index must be in 0..9999"),
    (["info", "--model", "{tmp}/text.keras"], "could not be loaded|not a Keras model file"),
], ids=["layer", "map", "node-range", "node-format", "wavelength", "steps", "batch", "model", "image", "not-keras"])
def test_bad_arguments_give_one_line(capsys, tmp_path, argv, match):
    (tmp_path / "text.keras").write_text("not a model")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "oip" else []))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip() and "it/s" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    import re

    assert re.search(match, lines[0]), lines[0]


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_real_entry_point_prints_one_line():
    p = subprocess.run([sys.executable, "-m", "cnnviz", "oip", "--layer", "Flatten", "--maps", "0", "--out", "/tmp/x"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "Received: layer='Flatten'" in p.stderr


def test_sweep_json_and_csv(capsys, tmp_path):
    code, out, _ = run(capsys, "sweep", "--maps", "0-2", "--wavelengths", "1,7", "--seeds", "1", "--steps", "10",
                       "--csv", str(tmp_path / "s.csv"), "--png", str(tmp_path / "s.png"), "--json")
    assert code == 0
    res = json.loads(out)
    assert res["layer"] == "Conv2D_3" and set(res["dead_at_start"]) == {"1", "7"} and len(res["per_map"]) == 3
    assert res["noise"] == "lowpass" and res["searches"] == {"1": 3, "7": 3}
    for k in ("dead_at_start", "dead_at_end_skip_dead", "dead_at_end_blur_all", "dead_at_end_redirected"):
        lo, hi = res[k + "_ci95"]["7"]
        assert 0 <= lo <= res[k]["7"] <= hi <= 1
    assert len(res["open_at_start_per_map"]) == 3 * 2 and res["steps"] == 10
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0].startswith("layer,noise,map,wavelength,seed,start_activation,activation") and len(lines) == 1 + 3 * 2
    code, out, _ = run(capsys, "sweep", "--maps", "0", "--wavelengths", "4", "--seeds", "1", "--steps", "5",
                       "--noise", "bandpass", "--json")
    assert code == 0 and json.loads(out)["noise"] == "bandpass"
    with Image.open(tmp_path / "s.png") as png:
        assert png.format == "PNG"


def test_reproducibility_json_is_sorted_by_score(capsys):
    code, out, _ = run(capsys, "reproducibility", "--layer", "Conv2D_2", "--maps", "0-3", "--seeds", "2",
                       "--steps", "10", "--json")
    assert code == 0
    res = json.loads(out)
    scores = [r["score"] for r in res["per_map"]]
    assert scores == sorted(scores, reverse=True) and res["max_shift"] == 2  # Conv2D_2's jump
    assert res["most_reproducible_map"] == res["per_map"][0]["map"]


def test_exemplars_json(capsys):
    code, out, _ = run(capsys, "exemplars", "--map", "5", "--k", "4", "--seeds", "1", "--steps", "10", "--json")
    assert code == 0
    res = json.loads(out)
    assert len(res["top_indices"]) == 4 and res["ratio"] == pytest.approx(res["oip_activation"] /
                                                                        res["best_image_activation"])


def test_compare_json(capsys, tmp_path):
    model = str(ROOT / "models" / "default.keras")
    code, out, _ = run(capsys, "compare", model, model, "--layer", "Conv2D_1", "--images", "200",
                       "--csv", str(tmp_path / "c.csv"), "--json")
    assert code == 0
    res = json.loads(out)
    assert res["pairs"] == 32 and res["same_index_fraction"] == 1 and len(res["matched_pairs"]) == 32
    assert (tmp_path / "c.csv").read_text().startswith("layer,map_a,map_b,correlation,close")


@pytest.mark.parametrize("argv,match", [
    (["sweep", "--wavelengths", "1,x"], "--wavelengths must be numbers"),
    (["sweep", "--layer", "Dense_1"], "layer of maps"),
    (["reproducibility", "--seeds", "1", "--wavelengths", "4"], "at least 2 searches"),
    (["exemplars", "--map", "99"], "map must be in 0..63"),
    (["compare", "models/default.keras", "/nonexistent/b.keras"], "Model file not found"),
    (["compare", "models/default.keras", "models/default.keras", "--images", "0"], "--images must be in"),
], ids=["waves", "layer", "seeds", "map", "model", "images"])
def test_bad_insight_arguments_give_one_line(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], err


def test_help_answers_without_loading_tensorflow():
    code = ("import sys\nfrom cnnviz.cli import main\n"
            "for argv in (['--help'], ['oip', '--help'], ['hand', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "--json" in p.stdout and "usage: cnnviz hand" in p.stdout


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_a_closed_pipe_ends_quietly():
    """`cnnviz info --json | head -1`: the reader goes away before the report is written."""
    p = subprocess.Popen([sys.executable, "-m", "cnnviz", "info", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0 and b"Traceback" not in err and b"Broken pipe" not in err, err[-2000:]


def test_compare_takes_the_second_models_layer_by_its_own_name(capsys):
    model = str(ROOT / "models" / "default.keras")
    code, out, _ = run(capsys, "compare", model, model, "--layer", "Conv2D_2", "--layer-b", "Conv2D_2", "--images",
                       "100", "--json")
    assert code == 0 and json.loads(out)["layer_b"] == "Conv2D_2"
    code, _, err = run(capsys, "compare", model, model, "--layer", "Conv2D_2", "--layer-b", "Conv2D_3", "--images",
                       "100")
    assert code == 2 and "The layers' grids differ" in err
