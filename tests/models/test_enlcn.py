import numpy as np
import pytest

from keras_enlca.layers import EfficientNonLocalContrastiveAttention
from keras_enlca.layers import ResidualBlock
from keras_enlca.models import ENLCN
from keras_enlca.models import count_parameters
from tests.models import common


def tiny(scale=2, num_blocks=2, **kwargs):
    return ENLCN(
        scale=scale, num_blocks=num_blocks, filters=16, attention_every=1, **kwargs
    )


def test_attention_placement_and_names():
    model = ENLCN(scale=2, num_blocks=4, filters=8, attention_every=2)
    kinds = [type(layer) for layer in model.body]
    A, R = EfficientNonLocalContrastiveAttention, ResidualBlock
    assert kinds == [A, R, R, A, R, R, A]
    assert [layer.name for layer in model.body] == [f"body_{i}" for i in range(7)]
    assert [layer.name for layer in model.attention_layers] == [
        "body_0",
        "body_3",
        "body_6",
    ]
    attention = model.get_layer("body_3")
    assert attention.res_scale == model.res_scale == 0.1
    assert attention.reduction == 4 and attention.num_random_features == 128
    assert attention.amplification == 6.0 and attention.contrastive == "code"
    assert attention.projection_matrix.shape == (128, 2)


def test_each_module_adds_the_reference_parameters():
    # 98,688 parameters per ENLCA at 256 filters: 2 * (256*64 + 64) +
    # 256*256 + 256; the projection buffer is not counted.
    with_attention = ENLCN(scale=2, num_blocks=1, filters=256, attention_every=1)
    assert (
        count_parameters(with_attention)
        - count_parameters(
            ENLCN(scale=2, num_blocks=1, filters=256, attention_every=100)
        )
        == 98_688
    )


def test_odd_sizes():
    common.check_odd_sizes(lambda scale: tiny(scale))


def test_fit_lowers_loss_and_save_load(tmp_path):
    # Two attention modules (body_0, body_2) keep the traced graph small.
    model = tiny(2, num_blocks=1)
    history = common.check_fit_lowers_loss_and_save_load(model, tmp_path)
    # Before the warm-up (101,000 steps by default) the contrastive term is
    # computed and reported but not in the loss.
    assert all(np.isfinite(history["contrastive"]))
    assert model.contrastive_warmup_steps == 101_000


def test_invalid_attention_every():
    with pytest.raises(ValueError, match="attention_every"):
        ENLCN(scale=2, num_blocks=2, filters=8, attention_every=0)
