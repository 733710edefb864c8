import numpy as np

from keras_enlca.layers import NonLocalSparseAttention
from keras_enlca.layers import ResidualBlock
from keras_enlca.models import NLSN
from keras_enlca.models import count_parameters
from tests.models import common


def tiny(scale=2, num_blocks=2, **kwargs):
    return NLSN(
        scale=scale, num_blocks=num_blocks, filters=16, attention_every=1, **kwargs
    )


def test_attention_placement_and_settings():
    model = NLSN(scale=3, num_blocks=3, filters=8, attention_every=2, chunk_size=16)
    A, R = NonLocalSparseAttention, ResidualBlock
    assert [type(layer) for layer in model.body] == [A, R, R, A, R]
    assert [layer.name for layer in model.attention_layers] == ["body_0", "body_3"]
    attention = model.attention_layers[0]
    assert (attention.n_hashes, attention.chunk_size, attention.reduction) == (4, 16, 4)
    assert attention.res_scale == 0.1 and attention.max_buckets == 128


def test_each_module_adds_the_reference_parameters():
    # 213,312 per NLSA at 256 filters: 256*64*9 + 64 + 256*256 + 256.
    assert (
        count_parameters(NLSN(scale=2, num_blocks=1, filters=256, attention_every=1))
        - count_parameters(
            NLSN(scale=2, num_blocks=1, filters=256, attention_every=100)
        )
        == 213_312
    )


def test_inference_is_deterministic():
    model = tiny(2)
    x = np.random.default_rng(0).random((1, 13, 15, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


def test_odd_sizes():
    common.check_odd_sizes(lambda scale: tiny(scale))


def test_fit_lowers_loss_and_save_load(tmp_path):
    # Two attention modules (body_0, body_2) keep the traced graph small.
    common.check_fit_lowers_loss_and_save_load(tiny(2, num_blocks=1), tmp_path)
