import keras
import numpy as np
from keras import ops

from keras_enlca.layers.l2_normalize import l2_normalize
from keras_enlca.utils.backend_dispatch import argmax_int32


def _is_static(*values):
    return all(isinstance(v, int) for v in values)


def _minimum(a, b):
    return min(a, b) if _is_static(a, b) else ops.minimum(a, b)


def _maximum(a, b):
    return max(a, b) if _is_static(a, b) else ops.maximum(a, b)


def _stable_argsort(codes, length):
    """Stable argsort of int bucket codes `(..., length)` along the last axis.

    Sorting `code * length + position` (all keys distinct) gives the order of
    a stable sort on every backend, whether or not its sort is stable
    (`keras.ops.argsort` has no `stable` flag). Exact while
    `buckets * length < 2**31` (128 buckets: up to 16.7M positions).
    """
    positions = ops.arange(length, dtype="int32")
    keys = ops.cast(codes, "int32") * length + positions
    return ops.cast(ops.argsort(keys, axis=-1), "int32")


def _batch_gather(params, indices):
    """`params[b, indices[b, j]]` for `params (B, L, ...)`, `indices (B, J)`.

    One flat `take` (TFLite `GATHER`; its gradient a scatter-add on every
    backend) instead of a batched gather.
    """
    batch, length = ops.shape(params)[0], ops.shape(params)[1]
    offsets = ops.reshape(ops.arange(batch, dtype="int32") * length, (-1, 1))
    flat = ops.reshape(params, (-1,) + tuple(params.shape[2:]))
    return ops.take(flat, indices + offsets, axis=0)


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
        # Fresh rotations of training calls (reference); a stateful seed
        # that `keras.random` threads through JAX's stateless steps.
        self.seed_generator = keras.random.SeedGenerator(rotations_seed)

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
            buckets = ops.minimum(per_chunk + per_chunk % 2, self.max_buckets)
        return buckets

    def _hash(self, embedding, num_buckets, training):
        """Bucket codes `(batch, n_hashes, L)` in `[0, num_buckets)`."""
        if _is_static(num_buckets) and num_buckets < 2:
            # One bucket: fewer positions than two chunks' worth.
            return ops.zeros(
                (ops.shape(embedding)[0], self.n_hashes, ops.shape(embedding)[1]),
                dtype="int32",
            )
        # At least one rotation column, so argmax never sees an empty axis
        # when the bucket count is only known at run time.
        half = _maximum(num_buckets // 2, 1)
        if training and self.random_rotations_in_training:
            rotations = keras.random.normal(
                (self.embedding_dim, self.n_hashes, half), seed=self.seed_generator
            )
        else:
            rotations = ops.convert_to_tensor(self.rotations)[:, :, :half]
        rotated = ops.einsum("bld,dhr->bhlr", embedding, rotations)
        rotated = ops.concatenate([rotated, -rotated], axis=-1)
        codes = argmax_int32(rotated, axis=-1)
        if _is_static(num_buckets):
            return codes
        return ops.where(num_buckets >= 2, codes, ops.zeros_like(codes))

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch = shape[0]
        height = inputs.shape[1] if inputs.shape[1] is not None else shape[1]
        width = inputs.shape[2] if inputs.shape[2] is not None else shape[2]
        channels = inputs.shape[-1]
        dim = self.embedding_dim
        rounds = self.n_hashes
        length = height * width

        match = ops.cast(self.match_embedding(inputs), "float32")
        assembly = ops.cast(self.assembly_embedding(inputs), "float32")
        match = ops.reshape(match, (batch, length, dim))
        assembly = ops.reshape(assembly, (batch, length, channels))

        codes = self._hash(match, self._buckets(length), training)
        order = _stable_argsort(codes, length)
        # `order` is a permutation: its plain argsort inverts it.
        undo = ops.cast(ops.argsort(order, axis=-1), "int32")

        # Fewer positions than a chunk: one chunk holding everything.
        chunk = _minimum(self.chunk_size, length)
        pad = (chunk - length % chunk) % chunk
        num_chunks = (length + pad) // chunk

        flat_order = ops.reshape(order, (batch, rounds * length))
        sorted_match = ops.reshape(
            _batch_gather(match, flat_order), (batch, rounds, length, dim)
        )
        sorted_assembly = ops.reshape(
            _batch_gather(assembly, flat_order), (batch, rounds, length, channels)
        )
        # Pad each round by repeating its last `pad` sorted elements.
        sorted_match = ops.concatenate(
            [sorted_match, sorted_match[:, :, length - pad :]], axis=2
        )
        sorted_assembly = ops.concatenate(
            [sorted_assembly, sorted_assembly[:, :, length - pad :]], axis=2
        )

        groups = batch * rounds
        queries = ops.reshape(sorted_match, (groups, num_chunks, chunk, dim))
        values = ops.reshape(sorted_assembly, (groups, num_chunks, chunk, channels))
        keys = l2_normalize(queries, self.normalize_epsilon)
        keys = self._with_neighbours(keys)
        values = self._with_neighbours(values)

        queries = ops.reshape(queries, (groups * num_chunks, chunk, dim))
        keys = ops.reshape(keys, (groups * num_chunks, 3 * chunk, dim))
        values = ops.reshape(values, (groups * num_chunks, 3 * chunk, channels))
        scores = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))
        log_norm = ops.logsumexp(scores, axis=-1, keepdims=True)
        out = ops.matmul(ops.exp(scores - log_norm), values)

        out = ops.reshape(out, (batch * rounds, num_chunks * chunk, channels))[
            :, :length
        ]
        log_norm = ops.reshape(log_norm, (batch * rounds, num_chunks * chunk))[
            :, :length
        ]
        flat_undo = ops.reshape(undo, (batch * rounds, length))
        out = ops.reshape(
            _batch_gather(out, flat_undo), (batch, rounds, length, channels)
        )
        log_norm = ops.reshape(
            _batch_gather(log_norm[..., None], flat_undo), (batch, rounds, length)
        )
        weights = ops.softmax(log_norm, axis=1)
        out = ops.sum(out * weights[..., None], axis=1)
        out = ops.reshape(out, (batch, height, width, channels))
        return inputs + ops.cast(out * self.res_scale, inputs.dtype)

    @staticmethod
    def _with_neighbours(x):
        """Concatenate each chunk with the previous and the next (wrapping)."""
        previous = ops.concatenate([x[:, -1:], x[:, :-1]], axis=1)
        following = ops.concatenate([x[:, 1:], x[:, :1]], axis=1)
        return ops.concatenate([x, previous, following], axis=2)

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
