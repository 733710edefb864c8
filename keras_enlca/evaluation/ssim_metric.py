"""Keras SSIM metric with the super-resolution paper conventions."""

import keras

from keras_enlca.utils.tensor_metrics import _PerImageMean
from keras_enlca.utils.tensor_metrics import ssim_per_image


@keras.saving.register_keras_serializable(package="keras_enlca")
class SSIM(_PerImageMean):
    """Mean per-image SSIM of [0, 1] RGB images, MATLAB `ssim_index` conventions.

    Images are quantised to `uint8` levels and reduced to MATLAB luminance (or
    kept RGB, averaging over channels), `shave` pixels are removed from every
    border, and Wang et al.'s SSIM is computed with an 11x11 Gaussian window
    (sigma 1.5), valid filtering, C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2.
    The metric is the mean over images. Computed in float32 in the graph:
    within about 1e-5 of `keras_enlca.evaluation.ssim`. Images must be at
    least 11x11 after shaving.

    Args:
        shave: pixels removed from each border (papers use the scale).
        y_channel: compare luminance (papers) instead of RGB.
        quantize: round to `uint8` levels first, as a saved PNG would be.
        name: metric name.
        dtype: metric dtype.

    Example:

    ```python
    model.compile(
        optimizer="adam", loss="mae", metrics=[keras_enlca.evaluation.SSIM(shave=4)]
    )
    ```

    Reference:
        - [Wang et al., Image quality assessment: from error visibility to
          structural similarity, TIP 2004](https://ieeexplore.ieee.org/document/1284395)
    """

    def __init__(
        self, shave=0, y_channel=True, quantize=True, name="ssim", dtype=None, **kwargs
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
        return ssim_per_image(y_true, y_pred, self.shave, self.y_channel, self.quantize)
