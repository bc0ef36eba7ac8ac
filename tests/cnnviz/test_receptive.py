import pytest

from cnnviz.receptive import Receptive, SpatialOp, propagate


def test_default_model_receptive_fields(default_model):
    rows = {r.name: r for r in default_model.layers}
    expect = {"Conv2D_1": (3, 1), "MaxPool_1": (4, 2), "Conv2D_2": (8, 2), "MaxPool_2": (10, 4), "Conv2D_3": (18, 4)}
    for name, (rf, jump) in expect.items():
        assert (rows[name].receptive_field, rows[name].jump) == (rf, jump), name
    assert rows["Dense_1"].receptive_field == 28 and rows["Dense_1"].jump is None


def test_receptive_box_of_a_conv3_node(default_model):
    rec = default_model.layer("Conv2D_3").receptive
    assert rec.box(0, 0) == (0, 17, 0, 17)
    assert rec.box(2, 1) == (8, 25, 4, 21)


def test_same_padding_starts_in_the_padding():
    rec = propagate([SpatialOp(3, 1, "same"), SpatialOp(2, 2, "valid"), SpatialOp(5, 1, "same")])
    assert rec[0] == Receptive(3, 1, -1)
    assert rec[2] == Receptive(3 + 1 + 4 * 2, 2, -1 - 2 * 2)
    assert rec[2].box(0, 0) == (0, 6, 0, 6)


@pytest.mark.parametrize("ops,size,jump", [
    ([SpatialOp(3)], 3, 1),
    ([SpatialOp(3, 2)], 3, 2),
    ([SpatialOp(3, 1, "valid", 2)], 5, 1),
    ([SpatialOp(2, 2), SpatialOp(2, 2), SpatialOp(2, 2)], 8, 8),
], ids=["conv3", "strided", "dilated", "three-pools"])
def test_propagate_rules(ops, size, jump):
    r = propagate(ops)[-1]
    assert (r.size, r.jump) == (size, jump)
