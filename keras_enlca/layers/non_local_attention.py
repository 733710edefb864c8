import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_enlca")
class NonLocalAttention(keras.layers.Layer):
    """Standard (embedded Gaussian) non-local attention.

    `Y_i = sum_j softmax_j(Q_i . K_j) V_j` over all positions, with 1x1
    embeddings `Q = theta(x)`, `K = delta(x)`, `V = psi(x)` (ENLCA paper
    Eq. 1-2), and output `x + res_scale * Y`. Cost and memory are quadratic
    in the number of positions (the `(HW, HW)` score matrix); the softmax
    runs in float32 under any dtype policy.

    Args:
        reduction: int. Query/key embeddings have `channels // reduction`
            channels (2, as the NLSN code's non-local module).
        res_scale: float. Residual scale of the attention output.
        shared_query_key: bool. Use one embedding for queries and keys
            (`K = Q`), as NLSA does.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`, any batch,
            height and width.

    Example:

    ```python
    layer = keras_enlca.layers.NonLocalAttention(reduction=2)
    y = layer(np.random.rand(1, 24, 24, 64).astype("float32"))
    ```

    Reference:
        - [Wang et al., Non-local Neural Networks, CVPR 2018](
          https://arxiv.org/abs/1711.07971)
    """

    def __init__(self, reduction=2, res_scale=1.0, shared_query_key=False, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction
        self.res_scale = res_scale
        self.shared_query_key = shared_query_key

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("NonLocalAttention needs a known channel dimension.")
        self.embedding_dim = max(1, channels // self.reduction)
        self.query_embedding = keras.layers.Conv2D(
            self.embedding_dim, 1, dtype=self.dtype_policy, name="query_embedding"
        )
        self.query_embedding.build(input_shape)
        self.key_embedding = None
        if not self.shared_query_key:
            self.key_embedding = keras.layers.Conv2D(
                self.embedding_dim, 1, dtype=self.dtype_policy, name="key_embedding"
            )
            self.key_embedding.build(input_shape)
        self.value_embedding = keras.layers.Conv2D(
            channels, 1, dtype=self.dtype_policy, name="value_embedding"
        )
        self.value_embedding.build(input_shape)

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        channels = inputs.shape[-1]
        query = ops.reshape(
            self.query_embedding(inputs), (batch, -1, self.embedding_dim)
        )
        if self.key_embedding is None:
            key = query
        else:
            key = ops.reshape(
                self.key_embedding(inputs), (batch, -1, self.embedding_dim)
            )
        value = ops.reshape(self.value_embedding(inputs), (batch, -1, channels))
        scores = ops.matmul(
            ops.cast(query, "float32"),
            ops.transpose(ops.cast(key, "float32"), (0, 2, 1)),
        )
        weights = ops.softmax(scores, axis=-1)
        out = ops.matmul(weights, ops.cast(value, "float32"))
        out = ops.reshape(out, (batch, height, width, channels))
        return inputs + ops.cast(out * self.res_scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "res_scale": self.res_scale,
                "shared_query_key": self.shared_query_key,
            }
        )
        return config
