import keras
import numpy as np
from keras import ops

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


@keras.saving.register_keras_serializable(package="keras_enlca")
class MeanShift(keras.layers.Layer):
    """Subtract or add the dataset RGB mean with a frozen 1x1 convolution.

    The EDSR-PyTorch `MeanShift`: a real 1x1 convolution with
    `kernel = identity / rgb_std` and `bias = sign * rgb_range * rgb_mean /
    rgb_std`. Both are weights (non-trainable, 12 values per layer) so that
    checkpoints carry them: a converted PyTorch checkpoint sets the bias it
    was trained with, which also tells the pixel range the network expects.

    Args:
        rgb_range: float. The pixel range the network works in (1 or 255).
        rgb_mean: tuple of 3 floats. Per-channel mean in [0, 1], defaults
            to the DIV2K mean of the reference code.
        rgb_std: tuple of 3 floats. Per-channel standard deviation.
        sign: -1 to subtract the mean (`sub_mean`), +1 to add it back
            (`add_mean`).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, 3)` tensor.

    Example:

    ```python
    sub_mean = keras_enlca.layers.MeanShift(rgb_range=255.0, sign=-1)
    y = sub_mean(np.full((1, 4, 4, 3), 128.0, "float32"))
    ```

    Reference:
    - [Lim et al., EDSR, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """

    def __init__(
        self,
        rgb_range=1.0,
        rgb_mean=DIV2K_RGB_MEAN,
        rgb_std=(1.0, 1.0, 1.0),
        sign=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sign not in (-1, 1):
            raise ValueError(f"`sign` must be -1 or 1. Received: sign={sign}")
        self.rgb_range = float(rgb_range)
        self.rgb_mean = tuple(float(v) for v in rgb_mean)
        self.rgb_std = tuple(float(v) for v in rgb_std)
        self.sign = int(sign)

    def build(self, input_shape):
        std = np.asarray(self.rgb_std, dtype="float32")
        mean = np.asarray(self.rgb_mean, dtype="float32")
        kernel = (np.eye(3, dtype="float32") / std[None, :])[None, None]
        bias = self.sign * self.rgb_range * mean / std
        self.kernel = self.add_weight(
            name="kernel",
            shape=(1, 1, 3, 3),
            initializer=keras.initializers.Constant(0.0),
            trainable=False,
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(3,),
            initializer=keras.initializers.Constant(0.0),
            trainable=False,
        )
        self.kernel.assign(kernel)
        self.bias.assign(bias.astype("float32"))

    def call(self, inputs):
        outputs = ops.conv(inputs, self.kernel, strides=1, padding="valid")
        return outputs + self.bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rgb_range": self.rgb_range,
                "rgb_mean": self.rgb_mean,
                "rgb_std": self.rgb_std,
                "sign": self.sign,
            }
        )
        return config
