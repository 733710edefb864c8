import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_enlca")
class PixelAttention(keras.layers.Layer):
    """Pixel attention: `x * sigmoid(conv1x1(x))`.

    The `PA` module of PAN and A2N: a 1x1 convolution with bias, `filters ->
    filters`, gives a per-pixel, per-channel gate (key `att1.conv`).

    Args:
        filters: int. Number of channels; the input must have as many.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, filters)` tensor.

    Example:

    ```python
    pa = keras_enlca.layers.PixelAttention(24)
    y = pa(np.ones((1, 8, 8, 24), "float32"))
    ```

    Reference:
    - [Zhao et al., PAN, ECCVW 2020](https://arxiv.org/abs/2010.01073)
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv = keras.layers.Conv2D(
            self.filters, 1, dtype=self.dtype_policy, name="conv"
        )

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs):
        return inputs * ops.sigmoid(self.conv(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config
