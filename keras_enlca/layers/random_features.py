"""Positive random features for the exponential kernel (ENLA, FAVOR+).

The functions follow `ENLA.py` of the ENLCA reference code (itself adapted
from lucidrains' performer-pytorch) with the changes ENLCA made: no data
normaliser and no max-subtraction stabiliser, the same feature map for
queries and keys, and `eps` added inside the feature map.
"""

import numpy as np
from keras import ops


def gaussian_orthogonal_random_matrix(
    num_rows, num_columns, seed=None, orthogonal=True, sign_correction=False
):
    """Draw the ENLA projection matrix, shape `(num_rows, num_columns)`.

    With `orthogonal=True` (the reference) the rows come in blocks of
    `num_columns` orthonormal rows (`Q^T` of the reduced QR of a square
    Gaussian matrix, no sign correction, like `torch.qr`), blocks independent
    of each other; every row is then rescaled by the norm of a fresh Gaussian
    row (chi-distributed norms), so each row is marginally `N(0, I)` and the
    kernel estimate stays unbiased while its variance drops. With
    `orthogonal=False` the rows are plain i.i.d. `N(0, I)` rows.

    A caveat of the reference, kept by default: LAPACK's QR (behind both
    `torch.qr` and `np.linalg.qr`) fixes the sign of `R`'s diagonal, so `Q`
    is not uniformly (Haar) distributed. The first row of every block
    always has a negative first coordinate, for example, and
    `phi(q) . phi(k)` is then a *biased* estimate of `exp(q . k)`, by an
    amount that depends on the direction of `q` and `k`.
    `sign_correction=True` multiplies `Q`'s columns by `sign(diag(R))`,
    which makes `Q` Haar-distributed and the estimate unbiased.

    Args:
        num_rows: int. The number of random features `m`.
        num_columns: int. The feature dimension `d`.
        seed: optional int or `np.random.Generator`. `None` draws a seed
            from NumPy's global state, so `keras.utils.set_random_seed`
            makes the draw reproducible.
        orthogonal: bool. Block-orthogonal rows (reference) or i.i.d. rows.
        sign_correction: bool. Haar-distributed orthogonal blocks (unbiased)
            instead of the reference's raw QR factor.

    Returns:
        A float32 NumPy array of shape `(num_rows, num_columns)`.
    """
    if isinstance(seed, np.random.Generator):
        rng = seed
    else:
        if seed is None:
            seed = np.random.randint(0, 2**31 - 1)
        rng = np.random.default_rng(seed)
    if not orthogonal:
        return rng.standard_normal((num_rows, num_columns)).astype("float32")
    blocks = []
    remaining = num_rows
    while remaining > 0:
        q, r = np.linalg.qr(rng.standard_normal((num_columns, num_columns)))
        if sign_correction:
            q = q * np.sign(np.diag(r))[None, :]
        block = q.T
        blocks.append(block[: min(remaining, num_columns)])
        remaining -= num_columns
    matrix = np.concatenate(blocks, axis=0)
    norms = np.linalg.norm(rng.standard_normal((num_rows, num_columns)), axis=1)
    return (norms[:, None] * matrix).astype("float32")


def positive_random_features(x, projection_matrix, epsilon=1e-4):
    """ENLA feature map `phi(x) = m^-1/2 (exp(x P^T - |x|^2 / 2) + eps)`.

    `phi(q) . phi(k)` is an unbiased estimate of `exp(q . k)` (up to the
    `eps` term). Computed in the dtype of `x`; callers pass float32, since
    `x P^T` reaches ~20 for amplified inputs and `exp` overflows float16.

    Args:
        x: tensor `(..., n, d)`.
        projection_matrix: tensor `(m, d)` (or batched `(..., m, d)`).
        epsilon: float added inside the feature map (reference: 1e-4).

    Returns:
        Tensor `(..., n, m)`.
    """
    projection_matrix = ops.cast(projection_matrix, x.dtype)
    num_features = ops.cast(ops.shape(projection_matrix)[-2], x.dtype)
    projected = ops.matmul(x, ops.swapaxes(projection_matrix, -1, -2))
    half_norm = 0.5 * ops.sum(ops.square(x), axis=-1, keepdims=True)
    return ops.rsqrt(num_features) * (ops.exp(projected - half_norm) + epsilon)


def linear_attention(query_features, key_features, values):
    """Non-causal linear attention `D^-1 phi(Q) (phi(K)^T V)` (ENLA Eq. 5-6).

    There is no epsilon in `D`, as in the reference: the feature map is
    bounded below by `eps / sqrt(m)`, so `D > 0`.

    Args:
        query_features: tensor `(..., n, m)`.
        key_features: tensor `(..., n, m)`.
        values: tensor `(..., n, c)`.

    Returns:
        Tensor `(..., n, c)`.
    """
    key_sum = ops.sum(key_features, axis=-2)
    normaliser = ops.einsum("...nm,...m->...n", query_features, key_sum)
    context = ops.einsum("...nm,...nc->...mc", key_features, values)
    out = ops.einsum("...nm,...mc->...nc", query_features, context)
    return out / normaliser[..., None]
