"""Colour images through the figures and the downloads (a colour model's OIPs, inputs and kernels)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app import figures
from cnnviz.images import gif_bytes, png_bytes, tile, to_uint8


def test_colour_oips_are_images_and_grey_ones_heatmaps():
    rng = np.random.default_rng(0)
    colour = figures.make_oip_animation_figure(rng.normal(size=(3, 2, 10, 12, 3)), [0, 5, 10], rng.random((2, 11)),
                                               ["a", "b"])
    grey = figures.make_oip_animation_figure(rng.normal(size=(3, 2, 10, 12)), [0, 5, 10], rng.random((2, 11)),
                                             ["a", "b"])
    assert colour.data[0].type == "image" and grey.data[0].type == "heatmap"
    z = np.asarray(colour.data[0].z)
    assert z.shape == (10, 2 * 12 + 2, 3) and z.dtype == np.uint8 and z.max() == 255
    gallery = figures.make_gallery_figure(rng.normal(size=(9, 10, 10, 3)), rng.random(9), "conv", "unit")
    assert [t.type for t in gallery.data] == ["image", "heatmap"]  # the invisible heatmap takes the clicks
    assert "unit" in gallery.layout.title.text and gallery.data[1].opacity == 0


def test_an_input_with_an_attribution_overlay():
    rng = np.random.default_rng(1)
    fig = figures.make_image_figure(rng.integers(0, 256, (32, 32, 3)), "x", overlay=rng.random((32, 32)))
    assert [t.type for t in fig.data] == ["image", "heatmap"]
    kernels = figures.make_kernels_figure(rng.normal(size=(3, 3, 3, 8)), "conv_a")
    assert kernels.data[0].type == "image" and kernels.layout.title.text == "conv_a kernels"


def test_colour_downloads_keep_their_colours():
    rng = np.random.default_rng(2)
    frames = rng.normal(size=(4, 3, 8, 8, 3)).astype(np.float32)
    with Image.open(io.BytesIO(gif_bytes(frames, rgb=True))) as gif:
        assert gif.n_frames == 4 and gif.size == (3 * (8 * 4 + 4) + 4, 8 * 4 + 2 * 4)  # three tiles, 4 px apart
        assert len(np.unique(np.asarray(gif.convert("RGB")).reshape(-1, 3), axis=0)) > 2
    grid = tile(to_uint8(frames[-1], rgb=True), cols=3)
    assert grid.shape == (8, 3 * 8 + 2, 3)
    with Image.open(io.BytesIO(png_bytes(grid, scale=2))) as png:
        assert png.mode == "RGB" and png.size == ((3 * 8 + 2) * 2, 16)
