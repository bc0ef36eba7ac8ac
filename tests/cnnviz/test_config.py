import pytest

from cnnviz.config import TrainConfig


def test_defaults_are_the_seeds_network():
    c = TrainConfig()
    assert c.filters == (32, 64, 64) and c.kernel_sizes == (3, 3, 3) and c.dense_units == 70
    assert TrainConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kwargs,match", [
    ({"dataset": "cifar"}, "dataset"),
    ({"filters": (32, 64)}, "filters"),
    ({"kernel_sizes": (3, 3, 9)}, "kernel_sizes"),
    ({"optimizer": "adam"}, "optimizer"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"momentum": 1.0}, "momentum"),
    ({"schedule": "cosine"}, "schedule"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": 0}, "epochs"),
    ({"subset": 5}, "subset"),
    ({"l2": -1}, "l2"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_invalid_configs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        TrainConfig(**kwargs)
