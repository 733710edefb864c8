import keras


@keras.saving.register_keras_serializable(package="keras_enlca")
class ResidualBlock(keras.layers.Layer):
    """EDSR residual block without batch normalisation.

    Computes `x + res_scale * conv2(relu(conv1(x)))` with two `same`-padded
    convolutions with bias (PyTorch `common.ResBlock`: `body.0` is `conv1`,
    `body.2` is `conv2`).

    Args:
        filters: int. Number of channels; the input must have as many.
        kernel_size: int. Kernel size of both convolutions.
        res_scale: float. Scale of the residual branch (0.1 in EDSR-paper,
            NLSN and ENLCN; 1.0 in EDSR-baseline).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, filters)` tensor.

    Example:

    ```python
    block = keras_enlca.layers.ResidualBlock(filters=64, res_scale=0.1)
    y = block(np.zeros((1, 12, 12, 64), "float32"))
    ```

    Reference:
    - [Lim et al., EDSR, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """

    def __init__(self, filters, kernel_size=3, res_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.res_scale = float(res_scale)
        self.conv1 = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            activation="relu",
            dtype=self.dtype_policy,
            name="conv1",
        )
        self.conv2 = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            dtype=self.dtype_policy,
            name="conv2",
        )

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.filters:
            raise ValueError(
                f"ResidualBlock with filters={self.filters} received an input "
                f"with {input_shape[-1]} channels."
            )
        self.conv1.build(input_shape)
        self.conv2.build(tuple(input_shape)[:-1] + (self.filters,))

    def call(self, inputs):
        residual = self.conv2(self.conv1(inputs))
        if self.res_scale != 1.0:
            residual = residual * self.res_scale
        return inputs + residual

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "res_scale": self.res_scale,
            }
        )
        return config
