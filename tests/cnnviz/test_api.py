import subprocess
import sys

from ..conftest import ROOT


def test_public_api_is_importable_and_pure():
    code = (
        "import sys, cnnviz\n"
        "assert 'tensorflow' not in sys.modules, 'import cnnviz must stay light'\n"
        "for name in cnnviz.__all__: getattr(cnnviz, name)\n"
        "import cnnviz.attribution, cnnviz.reproducibility\n"
        "assert callable(cnnviz.attribution) and callable(cnnviz.reproducibility), 'a module shadows its function'\n"
        "assert 'tensorflow' in sys.modules\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dash', 'plotly', 'flask')]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stderr == "", p.stderr[-2000:]  # quiet in a notebook too: no CUDA probe, no CPU-feature lines


def test_engine_is_type_clean():
    p = subprocess.run([sys.executable, "-m", "mypy", "cnnviz", "--ignore-missing-imports"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:]
