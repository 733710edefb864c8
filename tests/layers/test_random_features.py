import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.layers.random_features import gaussian_orthogonal_random_matrix
from keras_enlca.layers.random_features import linear_attention
from keras_enlca.layers.random_features import positive_random_features


def test_projection_blocks_are_orthogonal_with_chi_norms():
    matrix = gaussian_orthogonal_random_matrix(128, 64, seed=3)
    assert matrix.shape == (128, 64) and matrix.dtype == np.float32
    for block in (matrix[:64], matrix[64:]):
        directions = block / np.linalg.norm(block, axis=1, keepdims=True)
        np.testing.assert_allclose(directions @ directions.T, np.eye(64), atol=1e-5)
    # Row norms are chi(64): mean sqrt(2) Gamma(32.5)/Gamma(32) ~ 7.98.
    norms = np.linalg.norm(gaussian_orthogonal_random_matrix(4096, 64, seed=4), axis=1)
    assert abs(norms.mean() - 7.98) < 0.05
    # A count that is not a multiple of the dimension keeps the first rows
    # of the last block.
    assert gaussian_orthogonal_random_matrix(80, 64, seed=0).shape == (80, 64)


def test_projection_seed_reproducible():
    a = gaussian_orthogonal_random_matrix(16, 8, seed=11)
    b = gaussian_orthogonal_random_matrix(16, 8, seed=11)
    c = gaussian_orthogonal_random_matrix(16, 8, seed=12)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_reference_orthogonal_blocks_are_not_haar():
    """The reference's raw QR fixes signs: row 0 of a block points to x1 < 0."""
    first = np.stack(
        [gaussian_orthogonal_random_matrix(16, 8, seed=s)[::8, 0] for s in range(200)]
    )
    assert first.max() < 0
    corrected = np.stack(
        [
            gaussian_orthogonal_random_matrix(16, 8, seed=s, sign_correction=True)[
                ::8, 0
            ]
            for s in range(200)
        ]
    )
    assert 0.35 < np.mean(corrected > 0) < 0.65


@pytest.mark.parametrize("orthogonal,sign_correction", [(True, True), (False, False)])
def test_random_feature_estimate_is_unbiased(orthogonal, sign_correction):
    """Mean of phi(q).phi(k) over many redraws -> exp(q.k) (eps = 0).

    With `eps` the expectation is exp(q.k) + 2 eps + eps^2, checked too.
    Tolerance: 5 standard errors of the mean over the redraws.
    """
    rng = np.random.default_rng(0)
    dim, features, draws = 8, 64, 3000
    q = rng.standard_normal((6, dim))
    k = rng.standard_normal((6, dim))
    q *= 0.8 / np.linalg.norm(q, axis=1, keepdims=True)
    k *= 0.8 / np.linalg.norm(k, axis=1, keepdims=True)
    exact = np.exp(np.sum(q * k, axis=1))

    projections = np.stack(
        [
            gaussian_orthogonal_random_matrix(
                features,
                dim,
                seed=s,
                orthogonal=orthogonal,
                sign_correction=sign_correction,
            )
            for s in range(draws)
        ]
    )
    for eps, offset in ((0.0, 0.0), (1e-4, 2e-4 + 1e-8)):
        phi_q = positive_random_features(
            tf.constant(np.broadcast_to(q, (draws,) + q.shape), tf.float64),
            tf.constant(projections, tf.float64),
            epsilon=eps,
        ).numpy()
        phi_k = positive_random_features(
            tf.constant(np.broadcast_to(k, (draws,) + k.shape), tf.float64),
            tf.constant(projections, tf.float64),
            epsilon=eps,
        ).numpy()
        estimates = np.sum(phi_q * phi_k, axis=-1)  # (draws, pairs)
        mean = estimates.mean(axis=0)
        standard_error = estimates.std(axis=0) / np.sqrt(draws)
        assert np.all(np.abs(mean - exact - offset) < 5 * standard_error + 1e-12), (
            mean,
            exact,
        )
        # Individual draws do scatter: the test would catch a constant bias.
        assert np.all(estimates.std(axis=0) > 1e-3)


def test_linear_attention_matches_explicit_kernel_attention():
    rng = np.random.default_rng(1)
    phi_q = rng.random((2, 10, 7)) + 0.1
    phi_k = rng.random((2, 12, 7)) + 0.1
    values = rng.standard_normal((2, 12, 5))
    kernel = phi_q @ np.transpose(phi_k, (0, 2, 1))
    expected = (kernel / kernel.sum(-1, keepdims=True)) @ values
    out = linear_attention(tf.constant(phi_q), tf.constant(phi_k), tf.constant(values))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
