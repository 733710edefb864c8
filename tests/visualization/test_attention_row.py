import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.layers import EfficientNonLocalContrastiveAttention
from keras_enlca.layers import NonLocalAttention
from keras_enlca.layers import NonLocalSparseAttention
from keras_enlca.visualization.attention_row import attention_row


def features(rng, height=12, width=10, channels=16):
    return rng.standard_normal((1, height, width, channels)).astype("float32")


def attended(layer, x):
    """`(y - x) / res_scale`: what the layer adds, per position `(L, C)`."""
    y = layer(x, training=False).numpy()
    return ((y - x) / layer.res_scale).reshape(-1, x.shape[-1])


def values(conv, x):
    return conv(x).numpy().reshape(-1, x.shape[-1])


def test_nla_row_is_the_softmax_row_and_rebuilds_the_output(rng):
    x = features(rng)
    layer = NonLocalAttention(reduction=2)
    layer.build(x.shape)
    index = 37
    row = attention_row(layer, x, index)["weights"]
    q = layer.query_embedding(x).numpy().reshape(-1, 8)
    k = layer.key_embedding(x).numpy().reshape(-1, 8)
    scores = k.astype(np.float64) @ q[index].astype(np.float64)
    expected = np.exp(scores - scores.max())
    expected /= expected.sum()
    assert row.shape == (120,)
    assert row.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(
        row @ values(layer.value_embedding, x),
        attended(layer, x)[index],
        rtol=1e-4,
        atol=1e-5,
    )


def test_shared_query_key_nla_uses_the_query_as_key(rng):
    x = features(rng)
    layer = NonLocalAttention(shared_query_key=True)
    layer.build(x.shape)
    row = attention_row(layer, x, 3)["weights"]
    np.testing.assert_allclose(
        row @ values(layer.value_embedding, x),
        attended(layer, x)[3],
        rtol=1e-4,
        atol=1e-5,
    )
    q = layer.query_embedding(x).numpy().reshape(-1, 8).astype(np.float64)
    scores = q @ q[3]
    expected = np.exp(scores - scores.max())
    np.testing.assert_allclose(row, expected / expected.sum(), rtol=1e-4, atol=1e-7)


def test_enlca_rows_rebuild_the_output_and_sum_to_one(rng):
    x = features(rng)
    layer = EfficientNonLocalContrastiveAttention(reduction=2, projection_seed=3)
    layer.build(x.shape)
    row = attention_row(layer, x, 50)
    assert row["weights"].sum() == pytest.approx(1.0, abs=1e-5)
    assert row["exact"].sum() == pytest.approx(1.0, abs=1e-5)
    assert row["weights"].min() > 0
    # The approximated row is exactly what the linear attention computes.
    np.testing.assert_allclose(
        row["weights"] @ values(layer.value_embedding, x),
        attended(layer, x)[50],
        rtol=1e-3,
        atol=1e-4,
    )
    q = tf.math.l2_normalize(layer.query_embedding(x), -1).numpy().reshape(-1, 8)
    k = tf.math.l2_normalize(layer.key_embedding(x), -1).numpy().reshape(-1, 8)
    scores = 6.0 * (k @ q[50])  # softmax(k cos) with k = 6
    expected = np.exp(scores - scores.max())
    np.testing.assert_allclose(row["exact"], expected / expected.sum(), rtol=1e-4)


def approximation_errors(x, counts, amplification, seeds=2):
    """Mean L1 distance between the approximated and exact rows, per count."""
    base = EfficientNonLocalContrastiveAttention(reduction=4)
    base.build(x.shape)
    errors = []
    for count in counts:
        total = 0.0
        for seed in range(seeds):
            layer = EfficientNonLocalContrastiveAttention(
                reduction=4,
                num_random_features=count,
                amplification=amplification,
                projection_sign_correction=True,
                projection_seed=seed,
            )
            layer.build(x.shape)
            for name in ("query_embedding", "key_embedding", "value_embedding"):
                getattr(layer, name).set_weights(getattr(base, name).get_weights())
            for index in range(0, 256, 32):
                row = attention_row(layer, x, index)
                total += np.abs(row["weights"] - row["exact"]).sum()
        errors.append(total / (8 * seeds))
    return errors


def test_enlca_approximation_approaches_the_exact_map_with_more_features(rng):
    x = features(rng, 16, 16, 32)
    errors = approximation_errors(x, (8, 32, 128, 512, 2048), amplification=2.0)
    # About 1/sqrt(m) (unbiased Haar projections): each 4x more features
    # cuts the L1 error by a quarter or more (3 seeds: 0.63, 0.45, 0.32,
    # 0.23, 0.12).
    assert all(b < 0.8 * a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.25 * errors[0], errors
    # At the reference amplification k = 6 the estimator's variance grows
    # like exp(2k): it still converges, slowly (1.33 at 8 features, 0.69 at
    # 2048, 0.49 at 32768 measured).
    slow = approximation_errors(x, (8, 2048), amplification=6.0, seeds=1)
    assert slow[1] < 0.7 * slow[0], slow
    assert slow[1] > errors[-1], (slow, errors)


def sparse_layer(x, **kwargs):
    layer = NonLocalSparseAttention(reduction=4, rotations_seed=5, **kwargs)
    layer.build(x.shape)
    return layer


def attended_positions(layer, x, index):
    """The keys of `index` in each round, re-derived in NumPy from the rotations."""
    match = layer.match_embedding(x).numpy().reshape(-1, layer.embedding_dim)
    length = match.shape[0]
    buckets = layer._buckets(length)
    rotations = layer.rotations.numpy()[:, :, : buckets // 2]
    chunk = min(layer.chunk_size, length)
    pad = (chunk - length % chunk) % chunk
    seen, bucket_mates = set(), set()
    for r in range(layer.n_hashes):
        if buckets < 2:  # one bucket: fewer positions than two chunks
            codes = np.zeros(length, np.int64)
        else:
            rotated = match @ rotations[:, r]
            codes = np.argmax(np.concatenate([rotated, -rotated], -1), -1)
        order = np.argsort(codes, kind="stable")
        padded = np.concatenate([order, order[length - pad :]])
        chunks = padded.reshape(-1, chunk)
        own = int(np.nonzero(order == index)[0][0]) // chunk
        for c in (own - 1, own, own + 1):
            members = chunks[c % len(chunks)]
            seen.update(members.tolist())
            bucket_mates.update(m for m in members.tolist() if codes[m] == codes[index])
    return seen, bucket_mates


@pytest.mark.parametrize("size,chunk", [((24, 24), 36), ((20, 17), 24), ((6, 5), 144)])
def test_nlsa_row_lives_in_the_query_buckets_and_rebuilds_the_output(rng, size, chunk):
    x = features(rng, *size)
    layer = sparse_layer(x, chunk_size=chunk)
    length = size[0] * size[1]
    for index in (0, length // 3, length - 1):
        row = attention_row(layer, x, index)["weights"]
        seen, bucket_mates = attended_positions(layer, x, index)
        outside = np.setdiff1d(np.arange(length), sorted(seen))
        assert row.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(row[outside] == 0.0)
        assert np.all(row[sorted(bucket_mates)] > 0.0)
        np.testing.assert_allclose(
            row @ values(layer.assembly_embedding, x),
            attended(layer, x)[index],
            rtol=1e-3,
            atol=1e-4,
        )
    if length >= 2 * chunk:
        assert len(seen) < length  # sparse: most positions get no weight


def test_nlsa_row_reports_the_buckets_and_keys(rng):
    x = features(rng, 24, 24)
    layer = sparse_layer(x, chunk_size=36, n_hashes=3)
    row = attention_row(layer, x, 100)
    assert row["codes"].shape == (3,)
    assert row["key_positions"].shape == (3, 108)
    assert set(np.flatnonzero(row["weights"])) <= set(row["key_positions"].ravel())


def test_a_layer_that_is_no_attention_is_refused(rng):
    conv = keras.layers.Conv2D(4, 1)
    with pytest.raises(InputError, match="not an NLA, NLSA or ENLCA"):
        attention_row(conv, features(rng), 0)


def test_a_query_index_outside_is_refused(rng):
    x = features(rng)
    layer = NonLocalAttention()
    layer.build(x.shape)
    with pytest.raises(InputError, match="outside 0..119"):
        attention_row(layer, x, 120)
