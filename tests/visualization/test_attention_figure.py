import numpy as np
import pytest

from keras_enlca.visualization.attention_figure import attention_figure
from keras_enlca.visualization.attention_figure import display_size
from keras_enlca.visualization.attention_map import attention_map
from keras_enlca.visualization.marker import MARKER_COLOR
from keras_enlca.visualization.panel_grid import GAP
from keras_enlca.visualization.panel_grid import LABEL_HEIGHT
from tests.visualization.repeated_texture import QUERY
from tests.visualization.repeated_texture import hand_set_model
from tests.visualization.repeated_texture import repeated_texture


def panel_count(figure, row):
    """Runs of non-white pixels along one row of the figure."""
    ink = np.any(figure[row] != 255, axis=-1).astype(int)
    return int(np.count_nonzero(np.diff(np.concatenate([[0], ink])) == 1))


@pytest.mark.parametrize("kind,panels", [("NLA", 2), ("NLSA", 2), ("ENLCA", 3)])
def test_figure_has_one_panel_per_map_and_marks_the_point(kind, panels):
    image, mask = repeated_texture()
    maps = attention_map(hand_set_model(kind), image, QUERY)
    figure = attention_figure(image, maps)
    size = display_size(32, 32)
    assert size == (256, 256)  # small images are enlarged by a whole factor
    assert figure.shape == (
        256 + LABEL_HEIGHT + 2 * GAP,
        panels * 256 + (panels + 1) * GAP,
        3,
    )
    assert panel_count(figure, GAP + LABEL_HEIGHT + 128) == panels
    top = GAP + LABEL_HEIGHT
    for index in range(panels):
        left = GAP + index * (256 + GAP)
        x, y = left + int((QUERY[0] + 0.5) * 8), top + int((QUERY[1] + 0.5) * 8)
        assert tuple(figure[y, x]) == MARKER_COLOR
        # Away from the marker, no red.
        assert tuple(figure[top + 250, left + 250]) != MARKER_COLOR
    if kind == "NLA":
        # The map panel is brightest (viridis yellow) on the other patches.
        panel = figure[top : top + 256, GAP + 256 + GAP :][:, :256].astype(int)
        brightness = panel.sum(axis=-1)
        patch = np.kron(mask, np.ones((8, 8), bool))
        assert brightness[patch].mean() > 2 * brightness[~patch].mean()


def test_display_size_limits_the_long_side():
    assert display_size(100, 60) == (300, 180)
    assert display_size(300, 400) == (300, 400)
    assert display_size(1024, 2048) == (256, 512)
