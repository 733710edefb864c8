import numpy as np
import pytest

from keras_enlca.layers import NonLocalSparseAttention
from tests.layers import common


def conv(x, layer):
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
    size = kernel.shape[0]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(size):
        for j in range(size):
            window = padded[:, i : i + x.shape[1], j : j + x.shape[2]]
            out += np.einsum("bhwc,co->bhwo", window, kernel[i, j])
    return out + bias


def logsumexp(a, axis):
    peak = a.max(axis=axis, keepdims=True)
    return peak + np.log(np.exp(a - peak).sum(axis=axis, keepdims=True))


def add_adjacent(t):
    back = np.concatenate([t[:, :, -1:], t[:, :, :-1]], axis=2)
    forward = np.concatenate([t[:, :, 1:], t[:, :, :1]], axis=2)
    return np.concatenate([t, back, forward], axis=3)


def numpy_nlsa(layer, inputs, rotations):
    """NumPy port of the reference `NonLocalSparseAttention.forward`.

    Written in the reference's own layout: the codes of all rounds, offset
    by `round * n_buckets`, sorted together; `indices % L` gathers.
    """
    x_in = inputs.astype(np.float64)
    n, h, w, c = x_in.shape
    length, chunk, rounds = h * w, layer.chunk_size, layer.n_hashes
    x_embed = conv(x_in, layer.match_embedding).reshape(n, length, -1)
    y_embed = conv(x_in, layer.assembly_embedding).reshape(n, length, c)
    dim = x_embed.shape[-1]

    buckets = min(length // chunk + (length // chunk) % 2, 128)
    rotated = np.einsum("btf,fhi->bhti", x_embed, rotations[:, :, : buckets // 2])
    codes = np.argmax(np.concatenate([rotated, -rotated], -1), -1)
    codes = (codes + (np.arange(rounds) * buckets)[None, :, None]).reshape(n, -1)

    indices = np.argsort(codes, axis=-1, kind="stable")
    undo = np.argsort(indices, axis=-1, kind="stable")
    mod = indices % length
    x_sorted = np.take_along_axis(x_embed, mod[..., None], axis=1)
    y_sorted = np.take_along_axis(y_embed, mod[..., None], axis=1)

    pad = chunk - length % chunk if length % chunk else 0
    x_sorted = x_sorted.reshape(n, rounds, length, dim)
    y_sorted = y_sorted.reshape(n, rounds, length, c)
    if pad:
        x_sorted = np.concatenate([x_sorted, x_sorted[:, :, -pad:]], axis=2)
        y_sorted = np.concatenate([y_sorted, y_sorted[:, :, -pad:]], axis=2)
    x_sorted = x_sorted.reshape(n, rounds, -1, chunk, dim)
    y_sorted = y_sorted.reshape(n, rounds, -1, chunk, c)

    x_match = x_sorted / np.maximum(
        np.linalg.norm(x_sorted, axis=-1, keepdims=True), 5e-5
    )
    x_match = add_adjacent(x_match)
    y_sorted = add_adjacent(y_sorted)

    raw = np.einsum("bhkie,bhkje->bhkij", x_sorted, x_match)
    lse = logsumexp(raw, -1)
    score = np.exp(raw - lse)
    ret = np.einsum("bukij,bukje->bukie", score, y_sorted)
    ret = ret.reshape(n, rounds, -1, c)
    lse = lse.reshape(n, rounds, -1)
    if pad:
        ret, lse = ret[:, :, :-pad], lse[:, :, :-pad]
    ret = np.take_along_axis(ret.reshape(n, -1, c), undo[..., None], axis=1)
    lse = np.take_along_axis(lse.reshape(n, -1), undo, axis=1)
    ret = ret.reshape(n, rounds, length, c)
    lse = lse.reshape(n, rounds, length, 1)
    probs = np.exp(lse - logsumexp(lse, 1))
    ret = (ret * probs).sum(1)
    return ret.reshape(n, h, w, c) * layer.res_scale + x_in


def numpy_full_attention(layer, inputs):
    """Softmax attention over all positions, keys L2-normalised, queries raw."""
    x_in = inputs.astype(np.float64)
    n, h, w, c = x_in.shape
    q = conv(x_in, layer.match_embedding).reshape(n, h * w, -1)
    v = conv(x_in, layer.assembly_embedding).reshape(n, h * w, c)
    k = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 5e-5)
    s = q @ np.transpose(k, (0, 2, 1))
    p = np.exp(s - logsumexp(s, -1))
    return x_in + layer.res_scale * (p @ v).reshape(x_in.shape)


@pytest.mark.parametrize(
    "height,width,chunk", [(19, 21, 16), (16, 16, 16), (12, 25, 36), (20, 20, 144)]
)
def test_matches_reference_algorithm(height, width, chunk, rng):
    """Same rotations: LSH, sort, padding, adjacent chunks, round softmax."""
    x = rng.standard_normal((2, height, width, 16)).astype(np.float32)
    layer = NonLocalSparseAttention(
        chunk_size=chunk, reduction=2, res_scale=0.5, rotations_seed=7
    )
    out = layer(x).numpy()
    expected = numpy_nlsa(layer, x, layer.rotations.numpy().astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=2e-4)
    # Sparse attention differs from full attention when there are buckets.
    assert np.abs(out - numpy_full_attention(layer, x)).max() > 1e-3


@pytest.mark.parametrize("training", [False, True])
def test_equals_full_attention_when_one_chunk_covers_everything(training, rng):
    x = rng.standard_normal((2, 10, 12, 16)).astype(np.float32)
    layer = NonLocalSparseAttention(chunk_size=120, reduction=2, res_scale=1.0)
    out = layer(x, training=training).numpy()
    np.testing.assert_allclose(
        out, numpy_full_attention(layer, x), rtol=1e-4, atol=1e-4
    )


def test_fewer_positions_than_a_chunk(rng):
    """The reference crashes below 144 positions; here it is exact attention."""
    x = rng.standard_normal((1, 5, 7, 16)).astype(np.float32)
    layer = NonLocalSparseAttention(res_scale=0.1)
    np.testing.assert_allclose(
        layer(x).numpy(), numpy_full_attention(layer, x), rtol=1e-4, atol=1e-5
    )
    one_pixel = rng.standard_normal((1, 1, 1, 16)).astype(np.float32)
    np.testing.assert_allclose(
        layer(one_pixel).numpy(), numpy_full_attention(layer, one_pixel), atol=1e-5
    )


def test_bucket_count_rule():
    layer = NonLocalSparseAttention()
    assert [layer._buckets(n) for n in (100, 144, 287, 2304, 6080, 40000)] == [
        0,
        2,
        2,
        16,
        42,
        128,
    ]


def test_rotations_random_in_training_fixed_in_inference(rng):
    x = rng.standard_normal((1, 24, 24, 16)).astype(np.float32)
    layer = NonLocalSparseAttention(chunk_size=16, reduction=2)
    first = layer(x).numpy()
    np.testing.assert_array_equal(layer(x).numpy(), first)
    trained = [layer(x, training=True).numpy() for _ in range(3)]
    assert max(np.abs(t - first).max() for t in trained) > 1e-4
    fixed = NonLocalSparseAttention(
        chunk_size=16, reduction=2, random_rotations_in_training=False
    )
    fixed(x)
    fixed.set_weights(layer.get_weights())
    np.testing.assert_allclose(fixed(x, training=True).numpy(), first, atol=1e-6)
    before = layer.rotations.numpy().copy()
    layer.redraw_rotations(seed=1)
    assert np.abs(layer.rotations.numpy() - before).max() > 0.1
    assert np.abs(layer(x).numpy() - first).max() > 1e-4


def test_save_load_round_trip(tmp_path, rng):
    common.check_save_load(
        NonLocalSparseAttention(chunk_size=16, rotations_seed=2),
        rng.standard_normal((1, 13, 14, 16)).astype(np.float32),
        tmp_path,
    )


def test_dynamic_shapes():
    common.check_dynamic_shapes(
        NonLocalSparseAttention(chunk_size=16),
        16,
        [(1, 9, 9), (2, 17, 23), (1, 4, 3), (1, 1, 1)],
    )


def test_xla(rng):
    common.check_xla(
        NonLocalSparseAttention(chunk_size=16),
        rng.standard_normal((2, 15, 17, 16)).astype(np.float32),
    )


def test_mixed_precision(rng):
    common.check_mixed_precision(
        lambda: NonLocalSparseAttention(chunk_size=16, res_scale=1.0, rotations_seed=3),
        rng.standard_normal((1, 16, 16, 16)).astype(np.float32),
        tolerance=0.05,
    )
