"""The marked query pixel of an attention figure (a red ring and dot)."""

import numpy as np
from PIL import Image
from PIL import ImageDraw

MARKER_COLOR = (255, 0, 0)


def draw_marker(panel, center, radius=6):
    """A copy of `panel` with a red ring (white-edged) and dot at `center`.

    Args:
        panel: `(h, w, 3)` uint8 array.
        center: `(x, y)` in panel pixels (floats allowed).
        radius: ring radius in pixels.

    Returns:
        A new `(h, w, 3)` uint8 array; the pixel at `center` is pure red.

    Example:

    ```python
    marked = draw_marker(image, (40.5, 12.5))
    ```
    """
    image = Image.fromarray(np.ascontiguousarray(panel, np.uint8))
    draw = ImageDraw.Draw(image)
    x, y = center
    for r, color, width in (
        (radius + 1, (255, 255, 255), 4),
        (radius, MARKER_COLOR, 2),
    ):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=color, width=width)
    dot = max(1.0, radius / 4)
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=MARKER_COLOR)
    out = np.array(image)
    column, row = int(x), int(y)
    if 0 <= row < out.shape[0] and 0 <= column < out.shape[1]:
        out[row, column] = MARKER_COLOR
    return out
