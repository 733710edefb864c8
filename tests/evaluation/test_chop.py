import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.evaluation.chop import forward_chop


def nearest(x, scale=2):
    return np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)


class Recorder:
    """A nearest-neighbour 'model' that remembers its inputs."""

    def __init__(self, scale=2, mark=False):
        self.scale = scale
        self.mark = mark
        self.inputs = []

    def __call__(self, x):
        self.inputs.append(np.array(x))
        if self.mark:  # constant output = the index of the call
            shape = (
                x.shape[0],
                x.shape[1] * self.scale,
                x.shape[2] * self.scale,
                x.shape[3],
            )
            return np.full(shape, len(self.inputs) - 1, np.float32)
        return nearest(x, self.scale)


@pytest.fixture
def image(rng):
    return rng.random((1, 100, 90, 3)).astype(np.float32)


def test_enlca_crop_sizes_are_rounded_up_to_4_and_8(image):
    fn = Recorder()
    forward_chop(fn, image, 2)
    # h: 100 // 2 + 10 = 60 -> +4 -> 64 (always raised); w: 45 + 10 = 55 -> 56.
    assert [x.shape for x in fn.inputs] == [(1, 64, 56, 3)] * 4
    np.testing.assert_array_equal(fn.inputs[0], image[:, :64, :56])
    np.testing.assert_array_equal(fn.inputs[1], image[:, :64, 34:])
    np.testing.assert_array_equal(fn.inputs[2], image[:, 36:, :56])
    np.testing.assert_array_equal(fn.inputs[3], image[:, 36:, 34:])


def test_a2n_crop_sizes_are_not_rounded(image):
    fn = Recorder()
    forward_chop(fn, image, 2, variant="a2n")
    assert [x.shape for x in fn.inputs] == [(1, 60, 55, 3)] * 4
    np.testing.assert_array_equal(fn.inputs[3], image[:, 40:, 35:])


def test_pointwise_model_gives_the_whole_image_output(image):
    for variant in ("enlca", "a2n"):
        out = forward_chop(Recorder(scale=3), image, 3, variant=variant)
        np.testing.assert_array_equal(out, nearest(image, 3))
    out = forward_chop(Recorder(), image[0], 2)  # HWC in, HWC out
    np.testing.assert_array_equal(out, nearest(image, 2)[0])


def test_quadrants_come_from_their_own_crop(image):
    out = forward_chop(Recorder(mark=True), image, 2)
    # Each output quadrant of h_half * s x w_half * s comes from one crop.
    assert (out[0, :100, :90] == 0).all()
    assert (out[0, :100, 90:] == 1).all()
    assert (out[0, 100:, :90] == 2).all()
    assert (out[0, 100:, 90:] == 3).all()


def test_global_model_uses_each_crop_statistics(image):
    def global_fn(x):  # depends on the whole crop, like global attention
        return nearest(x) + x.mean(axis=(1, 2, 3), keepdims=True)

    out = forward_chop(global_fn, image, 2)
    crops = {
        (0, 0): image[:, :64, :56],
        (0, 1): image[:, :64, 34:],
        (1, 0): image[:, 36:, :56],
        (1, 1): image[:, 36:, 34:],
    }
    up = nearest(image)
    for (row, col), crop in crops.items():
        region = (
            slice(None),
            slice(row * 100, (row + 1) * 100),
            slice(col * 90, (col + 1) * 90),
        )
        np.testing.assert_allclose(out[region], up[region] + crop.mean(), atol=1e-6)
    assert not np.allclose(out, global_fn(image), atol=1e-4)


def test_recursion_when_crops_are_too_large(rng):
    image = rng.random((1, 200, 180, 3)).astype(np.float32)
    fn = Recorder()
    # Top level: 112 x 104 = 11648 >= min_size -> each crop is chopped again:
    # 112 -> 56 + 10 = 66 -> 68, 104 -> 52 + 10 = 62 -> 64.
    out = forward_chop(fn, image, 2, min_size=10000)
    assert [x.shape for x in fn.inputs] == [(1, 68, 64, 3)] * 16
    np.testing.assert_array_equal(out, nearest(image))
    assert len(Recorder().inputs) == 0
    default = Recorder()
    forward_chop(default, image, 2)  # 112 * 104 < 120000: one level
    assert len(default.inputs) == 4


def test_small_images_run_whole(rng):
    image = rng.random((1, 20, 12, 3)).astype(np.float32)
    fn = Recorder()
    out = forward_chop(fn, image, 2)
    assert [x.shape for x in fn.inputs] == [(1, 20, 12, 3)]
    np.testing.assert_array_equal(out, nearest(image))


def test_batches_and_errors(rng):
    images = rng.random((2, 40, 44, 3)).astype(np.float32)
    np.testing.assert_array_equal(forward_chop(Recorder(), images, 2), nearest(images))
    with pytest.raises(InputError, match="variant"):
        forward_chop(Recorder(), images, 2, variant="edsr2")
    with pytest.raises(InputError, match="expected"):
        forward_chop(Recorder(scale=3), images, 2)
