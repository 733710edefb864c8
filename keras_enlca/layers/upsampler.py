import math

import keras

from keras_enlca.layers.pixel_shuffle import PixelShuffle


def upsampler_stages(scale):
    """Return the pixel-shuffle factors of an EDSR upsampler for `scale`."""
    scale = int(scale)
    if scale == 3:
        return [3]
    if scale >= 2 and (scale & (scale - 1)) == 0:
        return [2] * int(math.log2(scale))
    raise ValueError(
        "The EDSR upsampler supports scale 3 and powers of two (2, 4, 8). "
        f"Received: scale={scale}"
    )


@keras.saving.register_keras_serializable(package="keras_enlca")
class Upsampler(keras.layers.Layer):
    """EDSR sub-pixel upsampler: `[conv3x3 F -> r*r*F, PixelShuffle(r)]`.

    Scale `2**n` uses `n` stages with `r = 2`, scale 3 one stage with
    `r = 3` (PyTorch `common.Upsampler`, keys `tail.0.0` and, for x4,
    `tail.0.2`). No activation. The convolutions are in `self.convs`
    (named `conv_0`, `conv_1`); their output channels are in the
    `depth_to_space` order (see `PixelShuffle`).

    Args:
        scale: int. 2, 3, 4 or 8.
        filters: int. Number of input (and output) channels.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, filters)` tensor.

    Example:

    ```python
    up = keras_enlca.layers.Upsampler(scale=4, filters=64)
    y = up(np.zeros((1, 5, 7, 64), "float32"))  # (1, 20, 28, 64)
    ```

    Reference:
    - [Lim et al., EDSR, CVPRW 2017](https://arxiv.org/abs/1707.02921)
    """

    def __init__(self, scale, filters, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.filters = int(filters)
        self.stages = upsampler_stages(self.scale)
        self.convs = []
        self.shuffles = []
        for index, r in enumerate(self.stages):
            self.convs.append(
                keras.layers.Conv2D(
                    self.filters * r * r,
                    3,
                    padding="same",
                    dtype=self.dtype_policy,
                    name=f"conv_{index}",
                )
            )
            self.shuffles.append(
                PixelShuffle(r, dtype=self.dtype_policy, name=f"shuffle_{index}")
            )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, shuffle in zip(self.convs, self.shuffles):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            shape = shuffle.compute_output_shape(shape)

    def call(self, inputs):
        x = inputs
        for conv, shuffle in zip(self.convs, self.shuffles):
            x = shuffle(conv(x))
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            None if height is None else height * self.scale,
            None if width is None else width * self.scale,
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "filters": self.filters})
        return config
