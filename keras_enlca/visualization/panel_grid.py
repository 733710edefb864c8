"""Labelled panels side by side in one picture (attention maps, comparisons)."""

import math

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# Pixels between panels and around the grid; height of the label band
# above each panel.
GAP = 8
LABEL_HEIGHT = 22
FONT_SIZE = 14
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)


def _fit(draw, text, font, width):
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def panel_grid(panels, labels, columns=4):
    """Panels of one size in rows of `columns`, each under a one-line label.

    The picture is `columns * w + (columns + 1) * GAP` wide (fewer columns
    when there are fewer panels) and `rows * (h + LABEL_HEIGHT) + (rows + 1)
    * GAP` high, on a white background; a label too long for its panel is
    shortened with "...".

    Args:
        panels: `(h, w, 3)` uint8 arrays, all of one shape.
        labels: one string per panel.
        columns: panels per row.

    Returns:
        A `(height, width, 3)` uint8 array.

    Example:

    ```python
    picture = panel_grid([lr, bicubic, sr, hr], ["LR", "Bicubic", "SR", "HR"])
    ```
    """
    if not panels or len(panels) != len(labels):
        raise ValueError("panel_grid needs one label per panel and at least one panel")
    height, width = panels[0].shape[:2]
    if any(p.shape[:2] != (height, width) for p in panels):
        raise ValueError("panel_grid needs panels of one shape")
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    canvas = Image.new(
        "RGB",
        (
            columns * width + (columns + 1) * GAP,
            rows * (height + LABEL_HEIGHT) + (rows + 1) * GAP,
        ),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    for index, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        row, column = divmod(index, columns)
        left = GAP + column * (width + GAP)
        top = GAP + row * (height + LABEL_HEIGHT + GAP)
        draw.text(
            (left, top + 2), _fit(draw, str(label), font, width), fill=TEXT, font=font
        )
        canvas.paste(
            Image.fromarray(np.ascontiguousarray(panel, np.uint8)),
            (left, top + LABEL_HEIGHT),
        )
    return np.asarray(canvas)
