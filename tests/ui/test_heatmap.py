"""The UI's heatmaps: the service's colour scale, the legend, match maps blended on a crop box."""

from __future__ import annotations

import numpy as np
from PIL import Image

from service.overlay import COLORMAP as SERVICE_COLORMAP
from ui.heatmap import COLORMAP, COLORMAP_ANCHORS, OUTSIDE_DIM, blend_heat, colorize, draw_legend


def test_colour_scale_is_the_services():
    assert np.array_equal(COLORMAP, SERVICE_COLORMAP)
    assert tuple(colorize(np.array([0.0, 1.0]))[0]) == COLORMAP_ANCHORS[0]
    assert tuple(colorize(np.array([0.0, 1.0]))[1]) == COLORMAP_ANCHORS[-1]


def test_match_map_is_drawn_inside_the_crop_box_only():
    image = Image.new("RGB", (200, 100), (100, 100, 100))
    heat = [[0.0, 1.0], [0.0, 1.0]]  # hot right column
    out = np.asarray(blend_heat(image, heat, [0.25, 0.0, 0.75, 1.0], opacity=1.0))
    dim = round(100 * OUTSIDE_DIM)
    assert tuple(out[50, 10]) == (dim, dim, dim)  # left of the crop box: dimmed, no heat
    assert tuple(out[50, 190]) == (dim, dim, dim)  # right of it
    assert tuple(out[50, 52]) == COLORMAP_ANCHORS[0]  # the crop box's cold left edge
    assert tuple(out[50, 147]) == COLORMAP_ANCHORS[-1]  # its hot right edge
    middle = out[50, 100].astype(int)  # bilinear in between: neither end
    assert 0 < middle.sum() < sum(COLORMAP_ANCHORS[-1])


def test_match_map_opacity_and_whole_picture():
    image = Image.new("RGB", (40, 40), (0, 0, 0))
    heat = [[1.0] * 4] * 4
    assert blend_heat(image, heat, None, 0.0).getpixel((20, 20)) == (0, 0, 0)
    assert blend_heat(image, heat, None, 1.0).getpixel((0, 0)) == COLORMAP_ANCHORS[-1]
    half = blend_heat(image, heat, None, 0.5).getpixel((20, 20))
    assert half == tuple(round(v / 2) for v in COLORMAP_ANCHORS[-1])


def test_legend_runs_low_to_high():
    legend = draw_legend((100, 10))
    assert legend.width == 100 and legend.height > 10
    assert legend.getpixel((0, 5)) == COLORMAP_ANCHORS[0]
    assert legend.getpixel((99, 5)) == COLORMAP_ANCHORS[-1]
