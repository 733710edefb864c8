import keras

from keras_enlca.utils.backend_dispatch import resize_by_factor

INTERPOLATIONS = ("nearest", "bilinear")


@keras.saving.register_keras_serializable(package="keras_enlca")
class ResizeUpsampling(keras.layers.Layer):
    """Nearest or bilinear upsampling by an integer factor, any input size.

    `"nearest"` repeats every pixel `scale` times along height and width
    (PyTorch `F.interpolate(mode="nearest")` with an integer factor);
    `"bilinear"` equals `F.interpolate(mode="bilinear", align_corners=False)`
    (half-pixel centres, no antialiasing). A2N uses both. Unlike
    `keras.layers.UpSampling2D` in Keras 3.15, this layer traces with an
    unknown height and width and keeps the channel count static, so a model
    using it exports to TFLite with dynamic input sizes, where it becomes
    the builtin `RESIZE_NEAREST_NEIGHBOR` or `RESIZE_BILINEAR`.

    Args:
        scale: int. The upsampling factor.
        interpolation: `"nearest"` or `"bilinear"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `(batch, height, width, channels)`.

    Example:

    ```python
    layer = keras_enlca.layers.ResizeUpsampling(3, interpolation="bilinear")
    y = layer(np.random.rand(1, 10, 7, 3).astype("float32"))  # (1, 30, 21, 3)
    ```
    """

    def __init__(self, scale, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {INTERPOLATIONS}, got "
                f"{interpolation!r}."
            )
        self.scale = int(scale)
        self.interpolation = interpolation

    def call(self, inputs):
        return resize_by_factor(inputs, self.scale, self.interpolation)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height * self.scale,
            None if width is None else width * self.scale,
            channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "interpolation": self.interpolation})
        return config
