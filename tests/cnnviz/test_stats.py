import numpy as np
import pytest

from cnnviz.stats import bootstrap_ci, wilson


@pytest.mark.parametrize("k,n,lo,hi", [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
                                       (1, 100, 0.0018, 0.0545), (81, 263, 0.2553, 0.3662)],
                         ids=["none", "half", "all", "rare", "typical"])
def test_wilson_interval_matches_known_values(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=5e-4) and b == pytest.approx(hi, abs=5e-4)


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(5, 3)


def test_bootstrap_interval_shrinks_with_more_units():
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 40, 160):
        x = rng.normal(size=n)
        lo, hi = bootstrap_ci(lambda idx, x=x: x[idx].mean(), n, rounds=400)
        assert lo < x.mean() < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
