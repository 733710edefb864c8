import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.evaluation.comparison_crop import comparison_crop


def test_auto_crop_sits_where_sr_and_bicubic_differ_most(rng):
    bicubic = rng.integers(0, 256, (300, 240, 3), dtype=np.uint8)
    sr = bicubic.copy()
    sr[150:230, 40:120] = 255 - sr[150:230, 40:120]  # the model "changed" this block
    x, y, w, h = comparison_crop(sr, bicubic)
    assert (w, h) == (80, 80)  # a third of the short side
    assert (x, y) == (40, 150)


def test_auto_crop_size_is_bounded_by_the_image(rng):
    small = rng.random((20, 50, 3))
    assert comparison_crop(small, small * 0)[2:] == (20, 20)
    large = rng.random((900, 1200, 3))
    assert comparison_crop(large, large)[2:] == (128, 128)


def test_a_given_crop_is_moved_inside_the_image(rng):
    image = rng.random((60, 80, 3))
    assert comparison_crop(image, image, (10, 5, 30, 20)) == (10, 5, 30, 20)
    assert comparison_crop(image, image, (70, 50, 30, 20)) == (50, 40, 30, 20)
    assert comparison_crop(image, image, (0, 0, 200, 200)) == (0, 0, 80, 60)
    with pytest.raises(InputError, match="--crop"):
        comparison_crop(image, image, (0, 0, 0, 5))
