import keras
import numpy as np
import tensorflow as tf

from keras_enlca.layers.l2_normalize import l2_normalize


def _is_static(*values):
    return all(isinstance(v, int) for v in values)


def _minimum(a, b):
    return min(a, b) if _is_static(a, b) else tf.minimum(a, b)


def _maximum(a, b):
    return max(a, b) if _is_static(a, b) else tf.maximum(a, b)


@keras.saving.register_keras_serializable(package="keras_enlca")
class NonLocalSparseAttention(keras.layers.Layer):
    """Non-Local Sparse Attention (NLSA) with spherical LSH buckets.

    A shared 3x3 embedding is hashed `n_hashes` times by random rotations
    (`argmax([xR, -xR])`); positions are sorted by bucket, cut into chunks
    of `chunk_size`, and every query attends to its own chunk and the two
    neighbouring chunks (wrapping around). Only keys are L2-normalised.
    The rounds are combined by a softmax over their log-sum-exp, which is
    attention over the union of keys seen in all rounds. The output is
    `x + res_scale * attention(x)`.

    This follows `attention.py` of HarukiYqM/Non-Local-Sparse-Attention
    (spec section 3.2): bucket count `min(L // chunk + (L // chunk) % 2,
    max_buckets)`, padding by repeating the tail of each sorted round,
    no `1/sqrt(d)` scaling, duplicate keys counted with multiplicity. Two
    deliberate differences: sorting is stable (ties keep position order),
    and inputs with fewer positions than one chunk work (one bucket, one
    chunk: exact attention) instead of crashing.

    Randomness: in training the rotations are redrawn on every call, as in
    the reference (`random_rotations_in_training=True`); at inference they
    come from the non-trainable weight `rotations`, so saved and exported
    models are deterministic. `redraw_rotations()` draws new stored ones.

    Args:
        n_hashes: int. Hashing rounds (reference: 4).
        chunk_size: int. Chunk length in sorted order (reference: 144).
        reduction: int. The match embedding has `channels // reduction`
            channels (reference: 4).
        res_scale: float. Residual scale of the attention output
            (reference NLSN: 0.1).
        max_buckets: int. Cap on the bucket count (reference: 128).
        random_rotations_in_training: bool. Draw fresh rotations on every
            training call (reference) instead of using the stored ones.
        normalize_epsilon: float. Keys are divided by
            `max(|k|, normalize_epsilon)` (reference: 5e-5).
        rotations_seed: optional int. Seed of the stored rotations.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`, any batch,
            height and width.
        training: bool. Selects fresh or stored rotations (see above).

    Example:

    ```python
    layer = keras_enlca.layers.NonLocalSparseAttention(chunk_size=144)
    y = layer(np.random.rand(1, 40, 40, 64).astype("float32"))
    ```

    Reference:
        - [Mei et al., Image Super-Resolution with Non-Local Sparse
          Attention, CVPR 2021](https://openaccess.thecvf.com/content/CVPR2021/html/Mei_Image_Super-Resolution_With_Non-Local_Sparse_Attention_CVPR_2021_paper.html)
        - [Kitaev et al., Reformer: The Efficient Transformer, ICLR 2020](
          https://arxiv.org/abs/2001.04451)
    """

    def __init__(
        self,
        n_hashes=4,
        chunk_size=144,
        reduction=4,
        res_scale=1.0,
        max_buckets=128,
        random_rotations_in_training=True,
        normalize_epsilon=5e-5,
        rotations_seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_hashes = n_hashes
        self.chunk_size = chunk_size
        self.reduction = reduction
        self.res_scale = res_scale
        self.max_buckets = max_buckets
        self.random_rotations_in_training = random_rotations_in_training
        self.normalize_epsilon = normalize_epsilon
        self.rotations_seed = rotations_seed

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("NonLocalSparseAttention needs a known channel dimension.")
        self.embedding_dim = max(1, channels // self.reduction)
        self.match_embedding = keras.layers.Conv2D(
            self.embedding_dim,
            3,
            padding="same",
            dtype=self.dtype_policy,
            name="match_embedding",
        )
        self.assembly_embedding = keras.layers.Conv2D(
            channels, 1, dtype=self.dtype_policy, name="assembly_embedding"
        )
        self.match_embedding.build(input_shape)
        self.assembly_embedding.build(input_shape)
        self.rotations = self.add_weight(
            name="rotations",
            shape=(self.embedding_dim, self.n_hashes, max(1, self.max_buckets // 2)),
            initializer="zeros",
            trainable=False,
            dtype="float32",
            autocast=False,
        )
        self.redraw_rotations(seed=self.rotations_seed)

    def redraw_rotations(self, seed=None):
        """Draw new stored rotations `N(0, 1)` (in place) and return them."""
        if seed is None:
            seed = np.random.randint(0, 2**31 - 1)
        values = (
            np.random.default_rng(seed)
            .standard_normal(tuple(self.rotations.shape))
            .astype("float32")
        )
        self.rotations.assign(values)
        return values

    def _buckets(self, num_positions):
        per_chunk = num_positions // self.chunk_size
        if _is_static(per_chunk):
            buckets = min(per_chunk + per_chunk % 2, self.max_buckets)
        else:
            buckets = tf.minimum(per_chunk + per_chunk % 2, self.max_buckets)
        return buckets

    def _hash(self, embedding, num_buckets, training):
        """Bucket codes `(batch, n_hashes, L)` in `[0, num_buckets)`."""
        if _is_static(num_buckets) and num_buckets < 2:
            # One bucket: fewer positions than two chunks' worth.
            return tf.zeros(
                [tf.shape(embedding)[0], self.n_hashes, tf.shape(embedding)[1]],
                dtype=tf.int32,
            )
        # At least one rotation column, so argmax never sees an empty axis
        # when the bucket count is only known at run time.
        half = _maximum(num_buckets // 2, 1)
        if training and self.random_rotations_in_training:
            rotations = tf.random.normal([self.embedding_dim, self.n_hashes, half])
        else:
            rotations = tf.convert_to_tensor(self.rotations)[:, :, :half]
        rotated = tf.einsum("bld,dhr->bhlr", embedding, rotations)
        rotated = tf.concat([rotated, -rotated], axis=-1)
        codes = tf.argmax(rotated, axis=-1, output_type=tf.int32)
        if _is_static(num_buckets):
            return codes
        return tf.where(num_buckets >= 2, codes, tf.zeros_like(codes))

    def call(self, inputs, training=None):
        shape = tf.shape(inputs)
        batch = shape[0]
        height = inputs.shape[1] if inputs.shape[1] is not None else shape[1]
        width = inputs.shape[2] if inputs.shape[2] is not None else shape[2]
        channels = inputs.shape[-1]
        dim = self.embedding_dim
        rounds = self.n_hashes
        length = height * width

        match = tf.cast(self.match_embedding(inputs), "float32")
        assembly = tf.cast(self.assembly_embedding(inputs), "float32")
        match = tf.reshape(match, [batch, length, dim])
        assembly = tf.reshape(assembly, [batch, length, channels])

        codes = self._hash(match, self._buckets(length), training)
        # Stable sort within each round: equal codes keep position order.
        order = tf.argsort(codes, axis=-1, stable=True)
        undo = tf.argsort(order, axis=-1, stable=True)

        # Fewer positions than a chunk: one chunk holding everything.
        chunk = _minimum(self.chunk_size, length)
        pad = (chunk - length % chunk) % chunk
        num_chunks = (length + pad) // chunk

        flat_order = tf.reshape(order, [batch, rounds * length])
        sorted_match = tf.reshape(
            tf.gather(match, flat_order, batch_dims=1), [batch, rounds, length, dim]
        )
        sorted_assembly = tf.reshape(
            tf.gather(assembly, flat_order, batch_dims=1),
            [batch, rounds, length, channels],
        )
        # Pad each round by repeating its last `pad` sorted elements.
        sorted_match = tf.concat(
            [sorted_match, sorted_match[:, :, length - pad :]], axis=2
        )
        sorted_assembly = tf.concat(
            [sorted_assembly, sorted_assembly[:, :, length - pad :]], axis=2
        )

        groups = batch * rounds
        queries = tf.reshape(sorted_match, [groups, num_chunks, chunk, dim])
        values = tf.reshape(sorted_assembly, [groups, num_chunks, chunk, channels])
        keys = l2_normalize(queries, self.normalize_epsilon)

        keys = self._with_neighbours(keys)
        values = self._with_neighbours(values)

        queries = tf.reshape(queries, [groups * num_chunks, chunk, dim])
        keys = tf.reshape(keys, [groups * num_chunks, 3 * chunk, dim])
        values = tf.reshape(values, [groups * num_chunks, 3 * chunk, channels])
        scores = tf.matmul(queries, keys, transpose_b=True)
        log_norm = tf.reduce_logsumexp(scores, axis=-1, keepdims=True)
        out = tf.matmul(tf.exp(scores - log_norm), values)

        out = tf.reshape(out, [batch, rounds, num_chunks * chunk, channels])[
            :, :, :length
        ]
        log_norm = tf.reshape(log_norm, [batch, rounds, num_chunks * chunk])[
            :, :, :length
        ]
        out = tf.gather(out, undo, batch_dims=2)
        log_norm = tf.gather(log_norm, undo, batch_dims=2)

        weights = tf.nn.softmax(log_norm, axis=1)
        out = tf.reduce_sum(out * weights[..., None], axis=1)
        out = tf.reshape(out, [batch, height, width, channels])
        return inputs + tf.cast(out * self.res_scale, inputs.dtype)

    @staticmethod
    def _with_neighbours(x):
        """Concatenate each chunk with the previous and the next (wrapping)."""
        previous = tf.concat([x[:, -1:], x[:, :-1]], axis=1)
        following = tf.concat([x[:, 1:], x[:, :1]], axis=1)
        return tf.concat([x, previous, following], axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_hashes": self.n_hashes,
                "chunk_size": self.chunk_size,
                "reduction": self.reduction,
                "res_scale": self.res_scale,
                "max_buckets": self.max_buckets,
                "random_rotations_in_training": self.random_rotations_in_training,
                "normalize_epsilon": self.normalize_epsilon,
                "rotations_seed": self.rotations_seed,
            }
        )
        return config
