import numpy as np
import pytest

from keras_enlca.models import count_parameters
from keras_enlca.models import from_preset
from keras_enlca.models.edsr_graph import attention_body_indices


# PyTorch `sum(p.numel() for p in model.parameters())` of the reference
# networks (24 frozen MeanShift values included, projection buffers not).
@pytest.mark.parametrize(
    "preset, expected",
    [
        ("enlcn_x4", 43_583_387),
        ("nlsn_x2", 41_796_187),
        ("edsr_x4", 43_089_947),
        ("a2n_x2", 1_036_443),
        ("a2n_x4", 1_047_459),
        ("a2n_m_x2", 831_643),
    ],
)
def test_reference_parameter_counts(preset, expected):
    model = from_preset(preset)
    assert count_parameters(model) == expected
    # Float weights: the model's int32 warm-up step counter is state.
    weights = sum(
        int(np.prod(w.shape)) for w in model.weights if "float" in str(w.dtype)
    )
    assert (
        len(model.weights) - len([w for w in model.weights if "float" in str(w.dtype)])
        == 1
    )
    if preset == "enlcn_x4":
        # Five (128, 64) projection buffers are weights but not parameters.
        assert weights == expected + 5 * 128 * 64
        assert [layer.name for layer in model.attention_layers] == [
            "body_0",
            "body_9",
            "body_18",
            "body_27",
            "body_36",
        ]
        assert model.get_layer("body_conv").kernel.shape == (3, 3, 256, 256)
        assert len(model.body) == 37
    elif preset == "nlsn_x2":
        assert [layer.name for layer in model.attention_layers] == [
            "body_0",
            "body_9",
            "body_18",
            "body_27",
            "body_36",
        ]
        assert weights == expected + 5 * 64 * 4 * 64
    else:
        assert weights == expected


@pytest.mark.parametrize(
    "num_blocks, every, expected",
    [(32, 8, [0, 9, 18, 27, 36]), (8, 8, [0, 9]), (2, 1, [0, 2, 4]), (5, 2, [0, 3, 6])],
)
def test_attention_body_indices(num_blocks, every, expected):
    assert attention_body_indices(num_blocks, every) == expected
