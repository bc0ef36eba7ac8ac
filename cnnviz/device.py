"""TensorFlow device set-up: GPU memory growth on, and a short description of the device."""

from __future__ import annotations

import functools


@functools.cache
def setup_device() -> str:
    """Turns on memory growth for every visible GPU and names the device used.

    Memory growth lets several processes (the app, job workers) share one card; it must
    be set before TensorFlow touches the GPU, hence this runs before any model is built.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth was set (or not) earlier
            pass
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU:0 ({details.get('device_name', 'unknown GPU')})"
    return "CPU"
