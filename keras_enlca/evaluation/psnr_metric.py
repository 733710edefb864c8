"""Keras PSNR metric with the super-resolution paper conventions."""

import keras

from keras_enlca.utils.tensor_metrics import _PerImageMean
from keras_enlca.utils.tensor_metrics import psnr_per_image


@keras.saving.register_keras_serializable(package="keras_enlca")
class PSNR(_PerImageMean):
    """Mean per-image PSNR (dB) of [0, 1] RGB images, MATLAB conventions.

    Each image pair is quantised to `uint8` levels (clamp, x255, round), the
    MATLAB luminance `Y = 16 + 65.481 R + 128.553 G + 24.966 B` is taken,
    `shave` pixels are removed from every border and
    `10 log10(255^2 / mse)` is computed per image; the metric is the mean over
    images, the way SR papers average over a test set. Computed in float32 in
    the graph: within about 1e-4 dB of `keras_enlca.evaluation.psnr`.
    Identical images are capped at about 148 dB (an MSE floor of 1e-10) so a
    running mean stays finite.

    Args:
        shave: pixels removed from each border (papers use the scale).
        y_channel: compare luminance (papers) instead of RGB.
        quantize: round to `uint8` levels first, as a saved PNG would be.
        name: metric name.
        dtype: metric dtype.

    Example:

    ```python
    model.compile(
        optimizer="adam", loss="mae", metrics=[keras_enlca.evaluation.PSNR(shave=4)]
    )
    ```

    Reference:
        - [Zhang et al., RCAN test code `Evaluate_PSNR_SSIM.m`, ECCV 2018](https://github.com/yulunzhang/RCAN)
    """

    def __init__(
        self, shave=0, y_channel=True, quantize=True, name="psnr", dtype=None, **kwargs
    ):
        super().__init__(
            shave=shave,
            y_channel=y_channel,
            quantize=quantize,
            name=name,
            dtype=dtype,
            **kwargs,
        )

    def per_image(self, y_true, y_pred):
        return psnr_per_image(y_true, y_pred, self.shave, self.y_channel, self.quantize)
