"""The picture of `attention_map`'s result (the ENLCA paper's Figure 1)."""

import math

import numpy as np
from PIL import Image

from keras_enlca.utils.image_conventions import to_uint8
from keras_enlca.visualization.colormap import apply_colormap
from keras_enlca.visualization.marker import draw_marker
from keras_enlca.visualization.panel_grid import panel_grid

# Panels are shown with their long side in [MIN_SIDE, MAX_SIDE] pixels:
# small LR images are enlarged by whole factors (nearest), big ones shrunk.
MIN_SIDE = 256
MAX_SIDE = 512


def display_size(height, width):
    """`(h, w)` of a panel showing a `height` x `width` image."""
    side = max(height, width)
    if side < MIN_SIDE:
        factor = math.ceil(MIN_SIDE / side)
        return height * factor, width * factor
    if side > MAX_SIDE:
        return (
            max(1, round(height * MAX_SIDE / side)),
            max(1, round(width * MAX_SIDE / side)),
        )
    return height, width


def _resize(array, size, enlarge_nearest=True):
    height, width = size
    image = Image.fromarray(array)
    shrink = width < array.shape[1]
    method = (
        Image.Resampling.BOX
        if shrink
        else (Image.Resampling.NEAREST if enlarge_nearest else Image.Resampling.BICUBIC)
    )
    return np.asarray(image.resize((width, height), method))


def _panels(maps):
    for item in maps:
        if item.exact is None:
            yield f"{item.layer} {item.kind}", item.weights
        else:
            yield f"{item.layer} {item.kind} approx.", item.weights
            yield f"{item.layer} {item.kind} exact softmax", item.exact


def attention_figure(image, maps, colormap="viridis", alpha=0.7, columns=4):
    """The image with the marked query, then one map panel per layer.

    Each map (at its layer's resolution) is scaled to the image, coloured
    with a perceptual colormap from 0 to its own largest weight and laid
    over a dimmed gray copy of the image; ENLCA layers get two panels, the
    random-feature approximation and the exact softmax beside it. The
    query is marked on every panel. Panels are `display_size` pixels; see
    `panel_grid` for the layout.

    Args:
        image: the `(H, W, 3)` input image (uint8 or float in [0, 1]).
        maps: the `LayerAttention` list from `attention_map`.
        colormap: `"viridis"` or `"magma"`.
        alpha: weight of the colour map over the image.
        columns: panels per row.

    Returns:
        A uint8 `(height, width, 3)` array.

    Example:

    ```python
    maps = attention_map(model, image, (120, 64))
    write_image("map.png", attention_figure(image, maps))
    ```
    """
    rgb = to_uint8(np.asarray(image))
    if rgb.ndim == 4:
        rgb = rgb[0]
    height, width = rgb.shape[:2]
    size = display_size(height, width)
    x, y = maps[0].point if maps else (0, 0)
    center = ((x + 0.5) * size[1] / width, (y + 0.5) * size[0] / height)
    gray = rgb.astype(np.float32).mean(axis=-1, keepdims=True) * 0.6
    panels = [draw_marker(_resize(rgb, size), center)]
    labels = [f"input, query ({x}, {y})"]
    for label, weights in _panels(maps):
        colours = apply_colormap(weights, colormap).astype(np.float32)
        rows = np.minimum(
            np.arange(height) * weights.shape[0] // height, weights.shape[0] - 1
        )
        cols = np.minimum(
            np.arange(width) * weights.shape[1] // width, weights.shape[1] - 1
        )
        blended = alpha * colours[rows][:, cols] + (1 - alpha) * gray
        panel = _resize(np.clip(np.rint(blended), 0, 255).astype(np.uint8), size)
        panels.append(draw_marker(panel, center))
        labels.append(label)
    return panel_grid(panels, labels, columns=columns)
