import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_enlca.layers import AttentionInAttentionBlock
from tests.layers import common


def torch_aab(block, x_nchw):
    """The reference `AAB.forward` (haoyuc/A2N `aan.py`) on Keras weights."""

    def conv(layer, x):
        weight = torch.from_numpy(layer.kernel.numpy().transpose(3, 2, 0, 1))
        bias = torch.from_numpy(layer.bias.numpy()) if layer.use_bias else None
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)

    def linear(layer, x):
        return F.linear(x, torch.from_numpy(layer.kernel.numpy().T))

    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    residual = x_nchw
    a, b = x_nchw.shape[:2]
    x = lrelu(conv(block.conv_first, x_nchw))
    y = F.adaptive_avg_pool2d(x, 1).view(a, b)
    y = linear(block.adm_dense_2, F.relu(linear(block.adm_dense_1, y)))
    ax = F.softmax(y / 30, dim=1)
    gate = torch.sigmoid(conv(block.attention_k2, lrelu(conv(block.attention_k1, x))))
    attention = conv(block.attention_k4, conv(block.attention_k3, x) * gate)
    non_attention = conv(block.non_attention, x)
    x = attention * ax[:, 0].view(a, 1, 1, 1) + non_attention * ax[:, 1].view(
        a, 1, 1, 1
    )
    return conv(block.conv_last, lrelu(x)) + residual


@pytest.mark.parametrize("non_attention_kernel_size", [3, 1])
def test_matches_reference_forward(rng, non_attention_kernel_size):
    block = AttentionInAttentionBlock(
        filters=8, non_attention_kernel_size=non_attention_kernel_size
    )
    x = rng.standard_normal((2, 7, 6, 8)).astype("float32") * 20.0
    block.build(x.shape)
    # Large logits so that the branch weights differ visibly from 0.5.
    block.adm_dense_2.kernel.assign(
        rng.standard_normal((2, 2)).astype("float32") * 40.0
    )
    block.attention_k2.bias.assign(rng.standard_normal(8).astype("float32"))
    out = block(x).numpy()
    expected = torch_aab(block, torch.from_numpy(x.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(
        out, expected.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    "non_attention_kernel_size, params", [(3, 62_860), (1, 50_060)]
)
def test_parameter_count(non_attention_kernel_size, params):
    block = AttentionInAttentionBlock(
        filters=40, non_attention_kernel_size=non_attention_kernel_size
    )
    block.build((None, None, None, 40))
    assert sum(int(np.prod(w.shape)) for w in block.weights) == params


def test_save_load_and_shapes(rng, tmp_path):
    x = rng.random((1, 5, 7, 8), dtype=np.float32)
    common.check_save_load(AttentionInAttentionBlock(filters=8), x, tmp_path)
    common.check_dynamic_shapes(
        AttentionInAttentionBlock(filters=8), 8, [(1, 3, 5), (2, 9, 4)]
    )
