"""TensorFlow set-up: a quiet import, GPU memory growth on, and a short description of the device."""

from __future__ import annotations

import functools
import os
import sys


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


def debug_on() -> bool:
    """``CNNVIZ_DEBUG=1``: TensorFlow may say all it has to say."""
    return os.environ.get("CNNVIZ_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def quiet_tensorflow() -> None:
    """Imports TensorFlow (and sets up the device) with its start-up chatter kept off stderr.

    CUDA probes and CPU-feature notes are written by C++ before TF_CPP_MIN_LOG_LEVEL applies, so file
    descriptor 2 points at a temporary file during the import; if the import fails, its output is shown
    after all. With ``CNNVIZ_DEBUG=1`` nothing is hidden. Cheap once TensorFlow is loaded.
    """
    if "tensorflow" in sys.modules and setup_device.cache_info().currsize:
        return
    if debug_on():
        setup_device()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow  # noqa: F401

            setup_device()  # the CUDA probe logs here on machines without a GPU
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
