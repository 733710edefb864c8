import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.evaluation.ensemble import ensemble_inputs
from keras_enlca.evaluation.ensemble import invert_output
from keras_enlca.evaluation.ensemble import self_ensemble


def nearest(x, scale=2):
    return np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)


@pytest.fixture
def image(rng):
    return rng.random((1, 5, 7, 3)).astype(np.float32)


def test_inputs_in_reference_order(image):
    v = lambda a: a[:, :, ::-1]  # noqa: E731 - flips the width
    h = lambda a: a[:, ::-1]  # noqa: E731 - flips the height
    t = lambda a: a.transpose(0, 2, 1, 3)  # noqa: E731
    expected = [
        image,
        v(image),
        h(image),
        h(v(image)),
        t(image),
        t(v(image)),
        t(h(image)),
        t(h(v(image))),
    ]
    inputs = ensemble_inputs(image)
    assert len(inputs) == 8
    for got, want in zip(inputs, expected):
        np.testing.assert_array_equal(got, want)


def test_inverse_transforms_restore_the_input(image):
    for index, variant in enumerate(ensemble_inputs(image)):
        np.testing.assert_array_equal(invert_output(variant, index), image)


def test_equivariant_model_is_unchanged(image):
    np.testing.assert_allclose(self_ensemble(nearest, image), nearest(image), atol=1e-7)
    np.testing.assert_allclose(
        self_ensemble(nearest, image[0]), nearest(image)[0], atol=1e-7
    )


def test_non_equivariant_model_is_averaged(image):
    def biased(x):  # adds a ramp along the first spatial axis of what it sees
        ramp = np.arange(x.shape[1] * 2, dtype=np.float32)[None, :, None, None] / 100.0
        return nearest(x) + ramp

    out = self_ensemble(biased, image)
    # By hand: ramps along H for the 4 untransposed inputs (flipped back for
    # h-flipped ones), along W for the 4 transposed ones.
    ramp_h = np.arange(10, dtype=np.float32)[:, None] / 100.0
    ramp_w = np.arange(14, dtype=np.float32)[None, :] / 100.0
    bias = (2 * ramp_h + 2 * ramp_h[::-1] + 2 * ramp_w + 2 * ramp_w[:, ::-1]) / 8.0
    np.testing.assert_allclose(out, nearest(image) + bias[None, :, :, None], atol=1e-6)


def test_averaging_happens_before_quantisation(image):
    calls = []

    def alternating(x):  # half the outputs are +0.4 levels, half -0.2 levels
        calls.append(x.shape)
        delta = (0.4 if len(calls) % 2 else -0.2) / 255.0
        return nearest(x) + delta

    out = self_ensemble(alternating, image)
    assert len(calls) == 8 and calls[4] == (1, 7, 5, 3)
    # Mean offset 0.1 level: kept in float, not rounded per output.
    np.testing.assert_allclose(out - nearest(image), 0.1 / 255.0, atol=1e-6)


def test_errors(image):
    with pytest.raises(InputError, match="transposed"):
        self_ensemble(lambda x: np.zeros((1, 10, 14, 3), np.float32), image)
    with pytest.raises(InputError, match="NHWC"):
        self_ensemble(nearest, image[0, 0])
