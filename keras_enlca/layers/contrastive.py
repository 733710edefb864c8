"""The ENLCA contrastive loss (spec section 2.5, paper Eq. 8-10).

For every query, the similarities `T_ij = q_i . k_j` to all keys are ranked
in descending order; the mean of `exp` over a block of top ranks (relevant
keys) is contrasted with the mean over a block of lower ranks (irrelevant
keys). Ranking `T` equals ranking `exp(T)`, so only the needed ranks are
extracted (`tf.math.top_k`, not a full sort) and exponentiated, and the
queries are processed in chunks so memory is `O(batch * chunk * positions)`
rather than `O(batch * positions^2)`.
"""

import tensorflow as tf

CONTRASTIVE_FORMS = ("code", "paper")


def contrastive_ranks(
    form,
    num_positions,
    top=15,
    negative_start=50,
    relevant_fraction=0.02,
    irrelevant_start_fraction=0.08,
):
    """Return `(num_relevant, negative_start, num_irrelevant)` for a form.

    `"code"` (reference): ranks `[0, top)` against `[negative_start,
    negative_start + top)`, fixed counts. `"paper"`: `n1 = relevant_fraction`
    and `n2 = irrelevant_start_fraction` of the positions, ranks
    `[0, n1 N)` against `[n2 N, n2 N + n1 N)` (counts rounded, at least 1).
    `num_positions` may be a Python int or a scalar tensor (paper form).
    """
    if form == "code":
        return top, negative_start, top
    if form == "paper":
        if isinstance(num_positions, int):
            count = max(1, int(round(relevant_fraction * num_positions)))
            start = int(round(irrelevant_start_fraction * num_positions))
            return count, start, count
        n = tf.cast(num_positions, tf.float32)
        count = tf.maximum(1, tf.cast(tf.round(relevant_fraction * n), tf.int32))
        start = tf.cast(tf.round(irrelevant_start_fraction * n), tf.int32)
        return count, start, count
    raise ValueError(
        f"`contrastive` must be one of {CONTRASTIVE_FORMS} or None, got {form!r}."
    )


@tf.custom_gradient
def _selected_logits(query, key, indices):
    """`q_i . k_j` for the keys `j = indices[b, i, :]` of every query.

    Equal to gathering the ranked entries of `Q K^T`, but the gradient
    touches only the selected keys (`O(queries * depth * d)`) instead of a
    dense `(queries, keys)` matrix, and only `indices` is kept for it: the
    gathered keys are recomputed in the backward pass.

    Args:
        query: `(batch, queries, d)`.
        key: `(batch, keys, d)`.
        indices: int32 `(batch, queries, depth)`.
    """
    logits = tf.einsum("bqd,bqkd->bqk", query, tf.gather(key, indices, batch_dims=1))

    def grad(upstream):
        selected = tf.gather(key, indices, batch_dims=1)
        grad_query = tf.einsum("bqk,bqkd->bqd", upstream, selected)
        contributions = upstream[..., None] * query[:, :, None, :]
        num_keys = tf.shape(key)[1]
        batch = tf.shape(key)[0]
        flat_ids = indices + (tf.range(batch) * num_keys)[:, None, None]
        grad_key = tf.math.unsorted_segment_sum(
            tf.reshape(contributions, [-1, tf.shape(key)[2]]),
            tf.reshape(flat_ids, [-1]),
            batch * num_keys,
        )
        return grad_query, tf.reshape(grad_key, tf.shape(key)), None

    return logits, grad


def _per_query_loss(
    query, key, key_t, form, num_relevant, negative_start, num_irrelevant, margin
):
    """Loss of every query of `query` `(batch, queries, d)`: `(batch, queries)`."""
    depth = negative_start + num_irrelevant
    # Ranking needs no gradient; the selected logits are recomputed with one.
    _, indices = tf.math.top_k(
        tf.stop_gradient(tf.matmul(query, key_t)), k=depth, sorted=True
    )
    top = tf.exp(_selected_logits(query, key, indices))
    positive = tf.reduce_mean(top[..., :num_relevant], axis=-1)
    negative = tf.reduce_mean(top[..., negative_start:depth], axis=-1)
    if form == "code":
        # ReLU(-log(pos / (neg + 1e-6)) + 1), as `attention.py` computes it.
        return tf.nn.relu(-tf.math.log(positive / (negative + 1e-6)) + margin)
    # Paper Eq. 10 as printed: -log(pos / neg) + b, no hinge.
    return -tf.math.log(positive / negative) + margin


def contrastive_loss(
    query,
    key,
    form="code",
    margin=1.0,
    top=15,
    negative_start=50,
    relevant_fraction=0.02,
    irrelevant_start_fraction=0.08,
    query_chunk_size=512,
    name="input",
):
    """Mean ENLCA contrastive loss over batch and query positions.

    Args:
        query: float tensor `(batch, positions, d)`: the normalised,
            amplified queries.
        key: float tensor `(batch, positions, d)`: the normalised,
            amplified keys.
        form: `"code"` (reference, default) or `"paper"` (Eq. 10).
        margin: the margin `b` (reference and paper: 1).
        top: code form, number of relevant and of irrelevant ranks (15).
        negative_start: code form, first irrelevant rank (50).
        relevant_fraction: paper form `n1` (0.02).
        irrelevant_start_fraction: paper form `n2` (0.08).
        query_chunk_size: queries ranked at once; bounds the memory.
        name: how to name the input in the error for too few positions.

    Returns:
        A scalar float tensor.
    """
    num_positions = query.shape[1]
    if num_positions is None:
        num_positions = tf.shape(query)[1]
    num_relevant, negative_start_rank, num_irrelevant = contrastive_ranks(
        form,
        num_positions,
        top,
        negative_start,
        relevant_fraction,
        irrelevant_start_fraction,
    )
    needed = negative_start_rank + num_irrelevant
    if isinstance(num_positions, int) and isinstance(needed, int):
        if num_positions < needed:
            raise ValueError(
                f"The ENLCA contrastive loss ({form} form) ranks {needed} keys per "
                f"query but {name} has only {num_positions} positions (height x "
                f"width). Use a larger input (the reference trains on 48x48 "
                f"patches), `contrastive='paper'`, or `contrastive=None`."
            )
        checks = []
    else:
        checks = [
            tf.debugging.assert_greater_equal(
                num_positions,
                needed,
                message=(
                    f"The ENLCA contrastive loss ({form} form) needs more "
                    f"positions (height x width) in {name} than it ranks per query."
                ),
            )
        ]

    with tf.control_dependencies(checks):
        key_t = tf.transpose(key, [0, 2, 1])

    def loss_of(query_chunk):
        return _per_query_loss(
            query_chunk,
            key,
            key_t,
            form,
            num_relevant,
            negative_start_rank,
            num_irrelevant,
            margin,
        )

    if isinstance(num_positions, int) and num_positions <= query_chunk_size:
        return tf.reduce_mean(loss_of(query))

    batch = tf.shape(query)[0]
    dim = query.shape[-1]
    num_chunks = (num_positions + query_chunk_size - 1) // query_chunk_size
    padded = num_chunks * query_chunk_size
    query = tf.pad(query, [[0, 0], [0, padded - num_positions], [0, 0]])
    chunks = tf.reshape(query, [batch, num_chunks, query_chunk_size, dim])
    chunks = tf.transpose(chunks, [1, 0, 2, 3])
    losses = tf.map_fn(loss_of, chunks, fn_output_signature=query.dtype)
    losses = tf.reshape(tf.transpose(losses, [1, 0, 2]), [batch, padded])
    return tf.reduce_mean(losses[:, :num_positions])
