import keras
import numpy as np
import pytest

from keras_enlca.models import EDSR
from keras_enlca.models import count_parameters
from tests.models import common


def tiny(scale=2, rgb_range=1.0, **kwargs):
    return EDSR(scale=scale, num_blocks=2, filters=16, rgb_range=rgb_range, **kwargs)


def test_layer_names_follow_reference_body_indices():
    model = EDSR(scale=4, num_blocks=3, filters=8)
    names = [layer.name for layer in model.layers]
    assert names == [
        "lr_image",
        "input_scaling",
        "sub_mean",
        "head",
        "body_0",
        "body_1",
        "body_2",
        "body_conv",
        "body_skip",
        "upsampler",
        "tail",
        "add_mean",
        "output_scaling",
    ]
    assert [conv.name for conv in model.upsampler.convs] == ["conv_0", "conv_1"]
    assert model.body == [model.get_layer(f"body_{i}") for i in range(3)]


@pytest.mark.parametrize("rgb_range", [1.0, 255.0])
def test_zero_tail_outputs_the_mean(rgb_range):
    """With a zero tail conv the output is `add_mean(0) / rgb_range`."""
    model = tiny(rgb_range=rgb_range)
    tail = model.get_layer("tail")
    tail.kernel.assign(np.zeros(tail.kernel.shape, "float32"))
    tail.bias.assign(np.zeros(tail.bias.shape, "float32"))
    out = model(np.random.rand(1, 5, 7, 3).astype("float32")).numpy()
    np.testing.assert_allclose(
        out, np.broadcast_to([0.4488, 0.4371, 0.4040], out.shape), rtol=1e-6
    )


def test_rgb_range_scales_the_trunk_input():
    """The head sees `rgb_range * x - rgb_range * mean`."""
    model = tiny(rgb_range=255.0)
    x = np.random.default_rng(0).random((1, 4, 4, 3), dtype=np.float32)
    probe = keras.Model(model.input, model.get_layer("sub_mean").output)
    np.testing.assert_allclose(
        probe(x).numpy(),
        255.0 * x - 255.0 * np.array([0.4488, 0.4371, 0.4040], "float32"),
        rtol=1e-5,
        atol=1e-4,
    )


def test_parameter_count_of_baseline():
    # EDSR-baseline x2 (16 blocks, 64 filters): 1,369,859 trainable weights
    # plus the 24 frozen MeanShift values.
    model = EDSR(scale=2, num_blocks=16, filters=64)
    assert count_parameters(model) == 1_369_883
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_369_859


def test_odd_sizes():
    common.check_odd_sizes(lambda scale: tiny(scale))


def test_fit_lowers_loss_and_save_load(tmp_path):
    common.check_fit_lowers_loss_and_save_load(tiny(2), tmp_path)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="scale"):
        EDSR(scale=5)
    with pytest.raises(ValueError, match="num_blocks"):
        EDSR(scale=2, num_blocks=0)
