import numpy as np
import pytest

from keras_enlca.layers import Upsampler
from tests.layers import common


@pytest.mark.parametrize(
    "scale, conv_channels", [(2, [32]), (3, [72]), (4, [32, 32]), (8, [32] * 3)]
)
def test_stages_and_shapes(rng, scale, conv_channels):
    layer = Upsampler(scale, filters=8)
    x = rng.random((1, 5, 7, 8), dtype=np.float32)
    out = layer(x)
    assert out.shape == (1, 5 * scale, 7 * scale, 8)
    assert [conv.filters for conv in layer.convs] == conv_channels
    assert [conv.name for conv in layer.convs] == [
        f"conv_{i}" for i in range(len(conv_channels))
    ]
    # Parameters of the reference tail.0: 9*F*r*r*F + r*r*F per stage.
    expected = sum(9 * 8 * c + c for c in conv_channels)
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == expected


@pytest.mark.parametrize("scale", [1, 5, 6])
def test_unsupported_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        Upsampler(scale, filters=8)


def test_save_load(rng, tmp_path):
    x = rng.random((1, 3, 4, 6), dtype=np.float32)
    common.check_save_load(Upsampler(4, filters=6), x, tmp_path)
