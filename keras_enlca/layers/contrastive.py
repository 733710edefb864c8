"""The ENLCA contrastive loss (spec section 2.5, paper Eq. 8-10).

For every query, the similarities `T_ij = q_i . k_j` to all keys are ranked
in descending order; the mean of `exp` over a block of top ranks (relevant
keys) is contrasted with the mean over a block of lower ranks (irrelevant
keys). Ranking `T` equals ranking `exp(T)`, so only the needed ranks are
extracted (`top_k`, not a full sort) and exponentiated, and the
queries are processed in chunks so memory is `O(batch * chunk * positions)`
rather than `O(batch * positions^2)`.
"""

from keras import ops

from keras_enlca.utils.backend_dispatch import assert_at_least

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
        n = ops.cast(num_positions, "float32")
        count = ops.maximum(1, ops.cast(ops.round(relevant_fraction * n), "int32"))
        start = ops.cast(ops.round(irrelevant_start_fraction * n), "int32")
        return count, start, count
    raise ValueError(
        f"`contrastive` must be one of {CONTRASTIVE_FORMS} or None, got {form!r}."
    )


def _selected_logits(query, key, indices):
    """`q_i . k_j` for the keys `j = indices[b, i, :]` of every query.

    Equal to gathering the ranked entries of `Q K^T`; the keys are gathered
    from the flattened `(batch * keys, d)` matrix, whose gradient every
    backend computes as a scatter-add into the selected rows only, so only
    the ranked similarities get gradient (as the reference's sort does) and
    no dense `(queries, keys)` gradient is formed.

    Args:
        query: `(batch, queries, d)`.
        key: `(batch, keys, d)`.
        indices: int32 `(batch, queries, depth)`.
    """
    batch, num_keys, dim = ops.shape(key)[0], ops.shape(key)[1], key.shape[-1]
    offsets = ops.reshape(ops.arange(batch, dtype="int32") * num_keys, (-1, 1, 1))
    flat_keys = ops.reshape(key, (-1, dim))
    selected = ops.take(flat_keys, ops.cast(indices, "int32") + offsets, axis=0)
    return ops.einsum("bqd,bqkd->bqk", query, selected)


def _per_query_loss(
    query, key, key_t, form, num_relevant, negative_start, num_irrelevant, margin
):
    """Loss of every query of `query` `(batch, queries, d)`: `(batch, queries)`."""
    depth = negative_start + num_irrelevant
    # Ranking needs no gradient; the selected logits are recomputed with one.
    _, indices = ops.top_k(
        ops.stop_gradient(ops.matmul(query, key_t)), k=depth, sorted=True
    )
    top = ops.exp(_selected_logits(query, key, indices))
    positive = ops.mean(top[..., :num_relevant], axis=-1)
    negative = ops.mean(top[..., negative_start:depth], axis=-1)
    if form == "code":
        # ReLU(-log(pos / (neg + 1e-6)) + 1), as `attention.py` computes it.
        return ops.relu(-ops.log(positive / (negative + 1e-6)) + margin)
    # Paper Eq. 10 as printed: -log(pos / neg) + b, no hinge.
    return -ops.log(positive / negative) + margin


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
        num_positions = ops.shape(query)[1]
    num_relevant, negative_start_rank, num_irrelevant = contrastive_ranks(
        form,
        num_positions,
        top,
        negative_start,
        relevant_fraction,
        irrelevant_start_fraction,
    )
    needed = negative_start_rank + num_irrelevant
    static = isinstance(num_positions, int) and isinstance(needed, int)
    assert_at_least(
        num_positions,
        needed,
        f"The ENLCA contrastive loss ({form} form) ranks {needed} keys per "
        f"query but {name} has only {num_positions} positions (height x "
        f"width). Use a larger input (the reference trains on 48x48 "
        f"patches), `contrastive='paper'`, or `contrastive=None`."
        if static
        else (
            f"The ENLCA contrastive loss ({form} form) needs more "
            f"positions (height x width) in {name} than it ranks per query."
        ),
    )
    key_t = ops.transpose(key, (0, 2, 1))

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
        return ops.mean(loss_of(query))

    batch = ops.shape(query)[0]
    dim = query.shape[-1]
    num_chunks = (num_positions + query_chunk_size - 1) // query_chunk_size
    padded = num_chunks * query_chunk_size
    query = ops.pad(query, [[0, 0], [0, padded - num_positions], [0, 0]])
    chunks = ops.reshape(query, (batch, num_chunks, query_chunk_size, dim))
    chunks = ops.transpose(chunks, (1, 0, 2, 3))
    losses = ops.map(loss_of, chunks)
    losses = ops.reshape(ops.transpose(losses, (1, 0, 2)), (batch, padded))
    return ops.mean(losses[:, :num_positions])
