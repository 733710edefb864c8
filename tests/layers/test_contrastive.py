import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.layers.contrastive import contrastive_loss


def numpy_contrastive(q, k, form, margin=1.0):
    """Direct computation with a full descending sort of exp(Q K^T)."""
    similarity = np.exp(np.einsum("bnd,bmd->bnm", q, k).astype(np.float64))
    ranked = -np.sort(-similarity, axis=-1)
    n = q.shape[1]
    if form == "code":
        positive = ranked[..., 0:15].mean(-1)
        negative = ranked[..., 50:65].mean(-1)
        per_query = np.maximum(-np.log(positive / (negative + 1e-6)) + margin, 0.0)
    else:
        count = max(1, int(round(0.02 * n)))
        start = int(round(0.08 * n))
        positive = ranked[..., :count].mean(-1)
        negative = ranked[..., start : start + count].mean(-1)
        per_query = -np.log(positive / negative) + margin
    return per_query.mean()


def amplified(rng, shape, k=6.0):
    x = rng.standard_normal(shape)
    return (np.sqrt(k) * x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(
        np.float32
    )


@pytest.mark.parametrize(
    "form,positions", [("code", 100), ("code", 65), ("paper", 300)]
)
def test_matches_numpy_full_sort(form, positions, rng):
    q = amplified(rng, (2, positions, 16))
    k = amplified(rng, (2, positions, 16))
    expected = numpy_contrastive(q, k, form)
    for chunk in (512, 7):
        value = contrastive_loss(
            tf.constant(q), tf.constant(k), form=form, query_chunk_size=chunk
        ).numpy()
        np.testing.assert_allclose(value, expected, rtol=2e-5)


def test_hinge_clips_well_separated_similarities(rng):
    """Low-dimensional keys spread the similarities: the hinge clips to 0.

    High-dimensional random keys are all nearly orthogonal to the queries,
    the relevant and irrelevant blocks are close, and the loss is positive.
    """
    q = amplified(rng, (1, 81, 4))
    separated = contrastive_loss(tf.constant(q), tf.constant(q)).numpy()
    q = amplified(rng, (1, 81, 256))
    k = amplified(rng, (1, 81, 256))
    uniform = contrastive_loss(tf.constant(q), tf.constant(k)).numpy()
    assert separated == 0.0
    assert 0.1 < uniform < 1.0
    np.testing.assert_allclose(uniform, numpy_contrastive(q, k, "code"), rtol=2e-5)


def test_dynamic_shapes_and_chunks(rng):
    fn = tf.function(
        lambda a, b: contrastive_loss(a, b, query_chunk_size=32),
        input_signature=[tf.TensorSpec([None, None, 8])] * 2,
    )
    for positions in (70, 129):
        q = amplified(rng, (3, positions, 8))
        k = amplified(rng, (3, positions, 8))
        np.testing.assert_allclose(
            fn(q, k).numpy(), numpy_contrastive(q, k, "code"), rtol=2e-5
        )


def test_gradients_flow_to_queries_and_keys(rng):
    q = tf.Variable(amplified(rng, (2, 90, 256)))
    k = tf.Variable(amplified(rng, (2, 90, 256)))
    with tf.GradientTape() as tape:
        loss = contrastive_loss(q, k, query_chunk_size=16)
    grad_q, grad_k = tape.gradient(loss, [q, k])
    assert float(tf.reduce_max(tf.abs(grad_q))) > 0
    assert float(tf.reduce_max(tf.abs(grad_k))) > 0
    # Finite-difference check along a random direction.
    direction = rng.standard_normal(q.shape).astype(np.float32)
    direction /= np.linalg.norm(direction)
    step = 1e-2
    plus = contrastive_loss(q + step * direction, k).numpy()
    minus = contrastive_loss(q - step * direction, k).numpy()
    np.testing.assert_allclose(
        (plus - minus) / (2 * step),
        np.sum(grad_q.numpy() * direction),
        rtol=0.05,
        atol=1e-4,
    )


def test_too_few_positions_is_a_clear_error(rng):
    q = amplified(rng, (1, 64, 8))
    with pytest.raises(ValueError, match=r"ranks 65 keys per query.*only 64 positions"):
        contrastive_loss(tf.constant(q), tf.constant(q), name="patch")
    fn = tf.function(
        lambda a: contrastive_loss(a, a),
        input_signature=[tf.TensorSpec([None, None, 8])],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs more positions"):
        fn(q)
    # The paper form scales with the input and accepts it.
    assert np.isfinite(
        contrastive_loss(tf.constant(q), tf.constant(q), form="paper").numpy()
    )


def test_sparse_gradient_equals_dense_autodiff(rng):
    """The custom gradient through the selected keys equals autodiff of
    top_k on the dense similarity matrix, for queries and keys."""
    q = tf.constant(amplified(rng, (2, 100, 128)))
    k = tf.constant(amplified(rng, (2, 100, 128)))

    def dense(a, b):
        top, _ = tf.math.top_k(tf.matmul(a, b, transpose_b=True), k=65)
        top = tf.exp(top)
        pos = tf.reduce_mean(top[..., :15], -1)
        neg = tf.reduce_mean(top[..., 50:65], -1)
        return tf.reduce_mean(tf.nn.relu(-tf.math.log(pos / (neg + 1e-6)) + 1.0))

    for fn in (dense, lambda a, b: contrastive_loss(a, b, query_chunk_size=32)):
        with tf.GradientTape() as tape:
            tape.watch([q, k])
            value = fn(q, k)
        grads = tape.gradient(value, [q, k])
        if fn is dense:
            expected_value, expected = value, grads
    np.testing.assert_allclose(value.numpy(), expected_value.numpy(), rtol=1e-5)
    assert float(tf.reduce_max(tf.abs(expected[1]))) > 0
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-7)
