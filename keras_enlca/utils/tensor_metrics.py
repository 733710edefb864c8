"""Per-image Y-PSNR and SSIM of NHWC tensors (keras.ops), in the graph.

The one in-graph definition: `SuperResolutionModel`'s validation `psnr`
(`val_psnr` in `fit`) and the `PSNR`/`SSIM` Keras metrics of
`keras_enlca.evaluation` both call it. The conventions are those of the
NumPy `keras_enlca.evaluation.metrics` (`enlca score`): quantisation to
8-bit levels with `to_uint8`'s rule (round half away from zero), MATLAB
luminance, border shave, 11x11 Gaussian SSIM with valid filtering; float32
here, so values agree with the NumPy ones to about 1e-4 dB / 1e-6 SSIM.
Identical images give about 148 dB instead of `inf` (`MSE_FLOOR`), so a
running mean stays finite.
"""

import keras
import numpy as np
from keras import ops

from keras_enlca.utils.image_conventions import DATA_RANGE
from keras_enlca.utils.image_conventions import SSIM_K1
from keras_enlca.utils.image_conventions import SSIM_K2
from keras_enlca.utils.image_conventions import Y_OFFSET
from keras_enlca.utils.image_conventions import Y_WEIGHTS
from keras_enlca.utils.image_conventions import gaussian_window

# MSE floor: identical images would give inf, which poisons a running mean.
# 1e-10 (in 0..255 units squared) caps PSNR at about 148 dB.
MSE_FLOOR = 1e-10


def to_levels(images, quantize=True):
    """[0, 1] images to 0..255 levels, clamped and (optionally) rounded.

    The rounding is `to_uint8`'s: half away from zero (`floor(x + 0.5)`),
    not `ops.round`'s half to even.
    """
    images = ops.clip(ops.cast(images, "float32"), 0.0, 1.0) * 255.0
    if quantize:
        images = ops.floor(images + 0.5)
    return images


def to_y(levels):
    """MATLAB luminance (NHWC -> NHW1) of RGB in 0..255 levels."""
    weights = ops.convert_to_tensor(np.array(Y_WEIGHTS, "float32") / 255.0)
    y = ops.sum(levels * weights, axis=-1, keepdims=True)
    return y + Y_OFFSET


def prepare(y_true, y_pred, shave, y_channel, quantize):
    a = to_levels(y_true, quantize)
    b = to_levels(y_pred, quantize)
    if y_channel:
        a, b = to_y(a), to_y(b)
    if shave:
        a = a[:, shave:-shave, shave:-shave, :]
        b = b[:, shave:-shave, shave:-shave, :]
    return a, b


def psnr_per_image(y_true, y_pred, shave=0, y_channel=True, quantize=True):
    a, b = prepare(y_true, y_pred, shave, y_channel, quantize)
    mse = ops.mean(ops.square(a - b), axis=(1, 2, 3))
    mse = ops.maximum(mse, MSE_FLOOR)
    return 10.0 * ops.log10(DATA_RANGE**2 / mse)


def _filter_valid(images, kernel):
    channels = images.shape[-1]
    depthwise = ops.tile(kernel, (1, 1, channels, 1))
    return ops.depthwise_conv(images, depthwise, strides=1, padding="valid")


def ssim_per_image(y_true, y_pred, shave=0, y_channel=True, quantize=True):
    a, b = prepare(y_true, y_pred, shave, y_channel, quantize)
    g = gaussian_window()
    kernel = ops.convert_to_tensor(np.outer(g, g).astype("float32")[:, :, None, None])
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu1 = _filter_valid(a, kernel)
    mu2 = _filter_valid(b, kernel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a, kernel) - mu1_sq
    sigma2_sq = _filter_valid(b * b, kernel) - mu2_sq
    sigma12 = _filter_valid(a * b, kernel) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return ops.mean(ssim_map, axis=(1, 2, 3))


class _PerImageMean(keras.metrics.Metric):
    """Mean over images of a per-image score (shared by PSNR and SSIM)."""

    def __init__(
        self, shave=0, y_channel=True, quantize=True, name=None, dtype=None, **kwargs
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.shave = int(shave)
        self.y_channel = bool(y_channel)
        self.quantize = bool(quantize)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def per_image(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = ops.cast(self.per_image(y_true, y_pred), "float32")
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            weight = ops.broadcast_to(weight, ops.shape(values))
            self.total.assign_add(ops.sum(values * weight))
            self.count.assign_add(ops.sum(weight))
        else:
            self.total.assign_add(ops.sum(values))
            self.count.assign_add(ops.cast(ops.shape(values)[0], "float32"))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "shave": self.shave,
                "y_channel": self.y_channel,
                "quantize": self.quantize,
            }
        )
        return config
