import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_enlca.layers import AttentionInAttentionBlock
from keras_enlca.models import A2N
from tests.models import common


def tiny(scale=2, **kwargs):
    return A2N(scale=scale, num_blocks=2, filters=8, upsample_filters=8, **kwargs)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_zero_last_conv_gives_the_bilinear_skip(scale):
    """The global skip is PyTorch bilinear, align_corners=False."""
    model = tiny(scale)
    last = model.get_layer("conv_last")
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))
    last.bias.assign(np.zeros(last.bias.shape, "float32"))
    x = np.random.default_rng(0).random((1, 5, 7, 3), dtype=np.float32)
    expected = (
        F.interpolate(
            torch.from_numpy(x.transpose(0, 3, 1, 2)) * 255.0,
            scale_factor=scale,
            mode="bilinear",
            align_corners=False,
        )
        .numpy()
        .transpose(0, 2, 3, 1)
        / 255.0
    )
    np.testing.assert_allclose(model(x).numpy(), expected, atol=2e-6)


def test_structure_and_names():
    model = tiny(4)
    names = [layer.name for layer in model.layers]
    for name in (
        "conv_first",
        "aab_0",
        "aab_1",
        "trunk_conv",
        "upconv1",
        "att1",
        "hr_conv1",
        "upconv2",
        "att2",
        "hr_conv2",
        "conv_last",
    ):
        assert name in names
    assert "upconv2" not in [layer.name for layer in tiny(3).layers]
    assert isinstance(model.get_layer("aab_1"), AttentionInAttentionBlock)
    assert model.get_layer("aab_0").non_attention.kernel_size == (3, 3)
    assert tiny(2, non_attention_kernel_size=1).get_layer(
        "aab_0"
    ).non_attention.kernel_size == (1, 1)


def test_works_in_0_255():
    """The first conv sees 255 * x (no mean shift)."""
    model = tiny(2)
    first = model.get_layer("conv_first")
    kernel = np.zeros(first.kernel.shape, "float32")
    kernel[1, 1, 0, 0] = 1.0
    first.kernel.assign(kernel)
    x = np.random.default_rng(0).random((1, 4, 4, 3), dtype=np.float32)
    import keras

    probe = keras.Model(model.input, first.output)
    np.testing.assert_allclose(
        probe(x).numpy()[..., 0], 255.0 * x[..., 0] + first.bias.numpy()[0], rtol=1e-5
    )


def test_odd_sizes():
    common.check_odd_sizes(lambda scale: tiny(scale))


def test_fit_lowers_loss_and_save_load(tmp_path):
    common.check_fit_lowers_loss_and_save_load(tiny(2), tmp_path)


def test_invalid_scale():
    with pytest.raises(ValueError, match="scale"):
        A2N(scale=8)
