import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_enlca")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel rearrangement `(H, W, C*r*r) -> (H*r, W*r, C)`.

    Uses `depth_to_space` (TFLite builtin `DEPTH_TO_SPACE`), whose channel
    order is `(i * r + j) * C + c` for output pixel offset `(i, j)` and
    channel `c`. PyTorch's `nn.PixelShuffle` reads channel `c * r * r + i *
    r + j` instead, so weights converted from PyTorch must have the output
    channels of the convolution feeding this layer permuted
    (`keras_out[k * C + c] = torch_out[c * r * r + k]`).

    Args:
        scale: int. The upscaling factor `r`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: a `(batch, height, width, channels)` tensor with `channels`
            divisible by `scale ** 2`.

    Example:

    ```python
    y = keras_enlca.layers.PixelShuffle(2)(np.zeros((1, 5, 7, 12), "float32"))
    # y.shape == (1, 10, 14, 3)
    ```

    Reference:
    - [Shi et al., ESPCN, CVPR 2016](https://arxiv.org/abs/1609.05158)
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.scale)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        r = self.scale
        return (
            batch,
            None if height is None else height * r,
            None if width is None else width * r,
            None if channels is None else channels // (r * r),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
