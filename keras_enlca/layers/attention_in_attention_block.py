import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_enlca")
class AttentionInAttentionBlock(keras.layers.Layer):
    """Attention-in-attention block (AAB) of A2N.

    With input `X`:

    1. `x = lrelu(conv_first(X))` (1x1, no bias; LeakyReLU slope 0.2).
    2. Attention dropout module: `a = softmax(adm_dense_2(relu(adm_dense_1(
       mean_hw(x)))) / temperature)`, two per-sample weights (dense layers
       without bias, `filters -> filters // reduction -> 2`).
    3. Attention branch: `k4(k3(x) * sigmoid(k2(lrelu(k1(x)))))` (k1, k3,
       k4 3x3 without bias; k2 1x1 with bias).
    4. Non-attention branch: `non_attention(x)` (3x3 without bias in A2N,
       1x1 in A2N-M).
    5. `out = conv_last(lrelu(a0 * attention + a1 * non_attention)) + X`
       (`conv_last` 1x1 without bias).

    Sub-layer names follow the PyTorch keys `AAB_trunk.i.*`: `conv_first`,
    `conv_last`, `adm_dense_1` (`ADM.0`), `adm_dense_2` (`ADM.2`),
    `attention_k1` ... `attention_k4` (`attention.k1` ... `attention.k4`),
    `non_attention`.

    Args:
        filters: int. Number of channels (40 in A2N).
        reduction: int. Channel reduction of the attention dropout module.
        temperature: float. Softmax temperature of the branch weights.
        non_attention_kernel_size: int. 3 for A2N, 1 for A2N-M.
        negative_slope: float. LeakyReLU slope.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, filters)` tensor.

    Example:

    ```python
    block = keras_enlca.layers.AttentionInAttentionBlock(filters=40)
    y = block(np.zeros((2, 16, 16, 40), "float32"))
    ```

    Reference:
    - [Chen et al., Attention in Attention Network for Image
      Super-Resolution, 2021](https://arxiv.org/abs/2104.09497)
    """

    def __init__(
        self,
        filters=40,
        reduction=4,
        temperature=30.0,
        non_attention_kernel_size=3,
        negative_slope=0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.reduction = int(reduction)
        self.temperature = float(temperature)
        self.non_attention_kernel_size = int(non_attention_kernel_size)
        self.negative_slope = float(negative_slope)

        def conv(kernel_size, name, use_bias=False):
            return keras.layers.Conv2D(
                self.filters,
                kernel_size,
                padding="same",
                use_bias=use_bias,
                dtype=self.dtype_policy,
                name=name,
            )

        self.conv_first = conv(1, "conv_first")
        self.conv_last = conv(1, "conv_last")
        self.adm_dense_1 = keras.layers.Dense(
            self.filters // self.reduction,
            use_bias=False,
            dtype=self.dtype_policy,
            name="adm_dense_1",
        )
        self.adm_dense_2 = keras.layers.Dense(
            2, use_bias=False, dtype=self.dtype_policy, name="adm_dense_2"
        )
        self.attention_k1 = conv(3, "attention_k1")
        self.attention_k2 = conv(1, "attention_k2", use_bias=True)
        self.attention_k3 = conv(3, "attention_k3")
        self.attention_k4 = conv(3, "attention_k4")
        self.non_attention = conv(self.non_attention_kernel_size, "non_attention")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.filters:
            raise ValueError(
                f"AttentionInAttentionBlock with filters={self.filters} "
                f"received an input with {input_shape[-1]} channels."
            )
        for layer in (
            self.conv_first,
            self.conv_last,
            self.attention_k1,
            self.attention_k2,
            self.attention_k3,
            self.attention_k4,
            self.non_attention,
        ):
            layer.build(input_shape)
        self.adm_dense_1.build((input_shape[0], self.filters))
        self.adm_dense_2.build((input_shape[0], self.filters // self.reduction))

    def _lrelu(self, x):
        return ops.leaky_relu(x, negative_slope=self.negative_slope)

    def call(self, inputs):
        x = self._lrelu(self.conv_first(inputs))

        pooled = ops.mean(x, axis=(1, 2))
        logits = self.adm_dense_2(ops.relu(self.adm_dense_1(pooled)))
        weights = ops.softmax(logits / self.temperature, axis=-1)
        weights = weights[:, None, None, :]

        gate = ops.sigmoid(self.attention_k2(self._lrelu(self.attention_k1(x))))
        attention = self.attention_k4(self.attention_k3(x) * gate)
        non_attention = self.non_attention(x)

        x = attention * weights[..., 0:1] + non_attention * weights[..., 1:2]
        return self.conv_last(self._lrelu(x)) + inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "reduction": self.reduction,
                "temperature": self.temperature,
                "non_attention_kernel_size": self.non_attention_kernel_size,
                "negative_slope": self.negative_slope,
            }
        )
        return config
