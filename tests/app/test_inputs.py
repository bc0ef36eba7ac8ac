import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.inputs import decode_upload, rasterize_drawing, resolve
from cnnviz.catalog import model_path


def data_url(raw: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def png(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_dark_digit_on_paper_becomes_mnist_like():
    img = Image.new("L", (200, 300), 255)
    from PIL import ImageDraw

    ImageDraw.Draw(img).line([(100, 40), (100, 260)], fill=0, width=25)  # a "1" on white paper
    x = decode_upload(data_url(png(img)))
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x[0].max() == 0 and x[:, 0].max() == 0  # black background
    ys, xs = np.nonzero(x > 50)
    assert ys.min() >= 3 and ys.max() <= 24 and abs(xs.mean() - 13.5) < 2  # 20-pixel box, centred


def test_jpeg_rgba_and_colour_are_accepted():
    img = Image.new("RGB", (64, 64), (0, 0, 0))
    img.paste((255, 200, 200), (20, 10, 40, 54))
    assert decode_upload(data_url(png(img, "JPEG"), "image/jpeg")).max() > 200
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (28, 8, 36, 56))
    assert decode_upload(data_url(png(rgba))).max() > 200


def _bomb() -> bytes:
    # A 20000 x 20000 PNG that compresses to a few hundred kilobytes.
    img = Image.new("1", (20000, 20000), 0)
    return png(img)


@pytest.mark.parametrize("contents,match", [
    (data_url(b"hello, not an image"), "Not a readable PNG or JPEG"),
    ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
    ("no comma here", "not a file"),
    (None, "not a file"),
    (data_url(png(Image.new("L", (40, 40), 0))), "blank"),
    (data_url(png(Image.new("L", (40, 40), 0), "GIF"), "image/gif"), "Only PNG and JPEG"),
    (data_url(b"\0" * 6_000_000), "too large"),
], ids=["text", "base64", "no-comma", "none", "blank", "gif", "oversized"])
def test_bad_uploads_are_refused_clearly(contents, match):
    with pytest.raises(ValueError, match=match):
        decode_upload(contents)


def test_decompression_bomb_is_refused():
    with pytest.raises(ValueError, match="too large|decompression bomb"):
        decode_upload(data_url(_bomb()))


def test_drawing_is_rasterised():
    shapes = [{"type": "path", "path": "M13,3L13,10L13,17L13,24"}]
    x = rasterize_drawing(shapes)
    assert x.shape == (28, 28) and x.max() > 200
    assert abs(np.nonzero(x > 100)[1].mean() - 13.5) < 2
    with pytest.raises(ValueError, match="Nothing drawn"):
        rasterize_drawing([])
    with pytest.raises(ValueError, match="Nothing drawn"):
        rasterize_drawing([{"path": "garbage"}])


@pytest.mark.parametrize("spec,match", [
    ({"source": "test", "index": 10000}, "0..9999"),
    ({"source": "test", "index": "x"}, "whole number"),
    ({"source": "pixels", "pixels": [[0] * 7] * 28}, "sides in 8..512"),
    ({"source": "pixels", "pixels": [[[0] * 4] * 28] * 28}, "H×W×3"),
    ({"source": "pixels", "pixels": [[300] * 28] * 28}, "0..255"),
    ({"source": "file", "path": "/etc/passwd"}, "Unknown image source"),
    ("junk", "No image chosen"),
], ids=["index", "index-type", "shape", "channels", "range", "source", "junk"])
def test_image_specs_are_checked(spec, match):
    with pytest.raises(ValueError, match=match):
        resolve(spec, "mnist")


def test_test_image_spec(mnist):
    x, y, caption = resolve({"source": "test", "index": 0}, "mnist")
    assert y == 7 and np.array_equal(x, mnist.x_test[0]) and "test image 0" in caption


@pytest.mark.parametrize("name", ["../default", "/etc/passwd", "default.keras/..", ".hidden", "", "a" * 65, None, 5])
def test_model_names_cannot_leave_the_model_folder(tmp_path, name):
    with pytest.raises(ValueError):
        model_path(tmp_path, name)


def test_a_drawing_is_parsed_in_time_linear_in_its_length():
    """A 20,000-digit stroke without a comma: refused at once (it took 8.5 s of GIL with a backtracking regex).
    Measured as operations, not seconds: the parser's scan over the path, on a path 10× longer, grows 10×."""

    from app import inputs

    with pytest.raises(ValueError, match="not a path of x,y points"):
        rasterize_drawing([{"path": "M" + "1" * 19_999}])
    calls = []
    real = inputs._NUMBER

    class Counting:
        def findall(self, text):
            out = real.findall(text)
            calls.append(len(out))
            return out

    inputs._NUMBER = Counting()
    try:
        for n in (1_000, 10_000):
            with pytest.raises(ValueError):
                rasterize_drawing([{"path": "M" + "1" * (n - 1)}])
    finally:
        inputs._NUMBER = real
    assert calls == [1, 1]  # one maximal run each: no retrying at every position
    assert "(" not in real.pattern  # no group to retry: one character class, scanned once
    good = rasterize_drawing([{"path": "M10,4L10,24"}])
    assert good.shape == (28, 28) and good.max() > 200
