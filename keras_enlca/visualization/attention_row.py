"""One query's row of a non-local attention layer, from the layer's weights.

Only the row is formed, never the `(HW, HW)` matrix: memory grows with the
number of positions times the embedding width, so a map of a large image
costs about as much as the embeddings themselves.
"""

import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.layers.random_features import positive_random_features
from keras_enlca.visualization.attention_layers import attention_kind


def _flat(tensor, channels):
    return tf.reshape(tf.cast(tensor, "float32"), [-1, channels])


def _non_local_row(layer, features, index):
    dim = layer.embedding_dim
    query = _flat(layer.query_embedding(features), dim)
    key = (
        query
        if layer.key_embedding is None
        else _flat(layer.key_embedding(features), dim)
    )
    return {"weights": tf.nn.softmax(tf.linalg.matvec(key, query[index]))}


def _contrastive_row(layer, features, index):
    dim = layer.embedding_dim
    # The layer's own normalisation and amplification: |q| = |k| = sqrt(k).
    query = _flat(
        layer._normalize(tf.cast(layer.query_embedding(features), "float32")), dim
    )
    key = _flat(
        layer._normalize(tf.cast(layer.key_embedding(features), "float32")), dim
    )
    projection = tf.convert_to_tensor(layer.projection_matrix)
    query_features = positive_random_features(
        query[index : index + 1], projection, layer.feature_epsilon
    )
    key_features = positive_random_features(key, projection, layer.feature_epsilon)
    kernel = tf.linalg.matvec(key_features, query_features[0])
    return {
        "weights": kernel / tf.reduce_sum(kernel),
        "exact": tf.nn.softmax(tf.linalg.matvec(key, query[index])),
    }


def _sparse_row(layer, features, index):
    dim = layer.embedding_dim
    length = int(features.shape[1]) * int(features.shape[2])
    match = _flat(layer.match_embedding(features), dim)
    codes = layer._hash(match[None], layer._buckets(length), False)[0]
    # As the layer: stable sort by bucket per round, pad each round with its
    # last sorted elements, cut into chunks, attend to own and both
    # neighbouring chunks (the layer's `_with_neighbours`).
    order = tf.argsort(codes, axis=-1, stable=True)
    undo = tf.argsort(order, axis=-1, stable=True)
    chunk = min(layer.chunk_size, length)
    pad = (chunk - length % chunk) % chunk
    padded = tf.concat([order, order[:, length - pad :]], axis=1)
    chunks = tf.reshape(padded, [layer.n_hashes, -1, chunk])
    neighbours = layer._with_neighbours(chunks)
    key_positions = tf.gather(neighbours, undo[:, index] // chunk, batch_dims=1)
    keys = tf.math.l2_normalize(
        tf.gather(match, key_positions), axis=-1, epsilon=layer.normalize_epsilon**2
    )
    scores = tf.linalg.matvec(keys, match[index])
    log_norm = tf.reduce_logsumexp(scores, axis=-1, keepdims=True)
    # Rounds combine by a softmax over their log-sum-exp; duplicate keys add up.
    per_round = tf.exp(scores - log_norm) * tf.nn.softmax(log_norm, axis=0)
    weights = tf.math.unsorted_segment_sum(
        tf.reshape(per_round, [-1]), tf.reshape(key_positions, [-1]), length
    )
    return {
        "weights": weights,
        "codes": tf.transpose(codes)[index],
        "key_positions": key_positions,
    }


_ROWS = {"NLA": _non_local_row, "NLSA": _sparse_row, "ENLCA": _contrastive_row}


def attention_row(layer, features, index):
    """The attention weights of the query at `index` over all positions.

    Computed from the layer's own sub-layers, weights and helpers, at
    inference (stored LSH rotations and projection matrix):

    - NLA: the exact softmax row `softmax_j(q_i . k_j)`.
    - NLSA: the weights over the keys the query sees in the layer: in each
      hash round its chunk and the two neighbouring chunks of the
      bucket-sorted sequence, combined over rounds as the layer does; zero
      everywhere else. Also `codes` (the query's bucket in each round) and
      `key_positions` (`(n_hashes, 3 * chunk)`, the keys it attends to).
    - ENLCA: the kernel-approximated row
      `phi(q_i) . phi(k_j) / sum_j phi(q_i) . phi(k_j)` (`weights`) and
      the exact `softmax_j(q_i . k_j)` (with `|q| = |k| = sqrt(k)`, i.e.
      `softmax(k cos)`) it approximates (`exact`).

    Args:
        layer: a built `NonLocalAttention`, `NonLocalSparseAttention` or
            `EfficientNonLocalContrastiveAttention`.
        features: the layer's input, a `(1, h, w, channels)` tensor.
        index: the query position, `row * w + column`.

    Returns:
        A dict of NumPy arrays; `weights` (and `exact`) have shape `(h * w,)`
        and sum to 1.

    Example:

    ```python
    row = attention_row(layer, features, index=5 * 48 + 7)["weights"]
    ```
    """
    kind = attention_kind(layer)
    if kind is None:
        raise InputError(f"{layer.name}: not an NLA, NLSA or ENLCA layer.")
    features = tf.cast(tf.convert_to_tensor(features), layer.compute_dtype)
    if features.shape.rank != 4 or features.shape[0] != 1:
        raise InputError(
            f"{layer.name}: expected a (1, h, w, c) input, got {features.shape}"
        )
    length = int(features.shape[1]) * int(features.shape[2])
    if not 0 <= int(index) < length:
        raise InputError(f"{layer.name}: query index {index} outside 0..{length - 1}.")
    return {
        name: value.numpy()
        for name, value in _ROWS[kind](layer, features, int(index)).items()
    }
