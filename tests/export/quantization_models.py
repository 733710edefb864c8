"""Small Keras models that are easy or hard to quantise, for the export tests.

Both upscale x2 by bilinear interpolation through two 1x1 convolutions that
pass the image on (identity weights), so that the float model is a fixed,
sensible upscaler. The hard one's first convolution also writes a ninth
channel that is 10,000 everywhere (a huge bias), which the second one
ignores: one 8-bit scale per tensor then has a step of ~40 for values in
[0, 1], and the image is lost unless that layer stays float.
"""

import keras
import numpy as np

from keras_enlca.layers.resize_upsampling import ResizeUpsampling

HUGE = 1.0e4


@keras.saving.register_keras_serializable(package="keras_enlca_tests")
class SpikyBlock(keras.layers.Layer):
    """1x1 conv to 9 channels (the ninth = `spike`), then 1x1 conv back to 3.

    Args:
        spike: the constant of the ninth channel (0 for an easy block).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, height, width, 3)`.
    """

    def __init__(self, spike=HUGE, **kwargs):
        super().__init__(**kwargs)
        self.spike = float(spike)
        self.wide = keras.layers.Conv2D(9, 1, name="wide")
        self.narrow = keras.layers.Conv2D(3, 1, name="narrow")

    def build(self, input_shape):
        self.wide.build(input_shape)
        self.narrow.build(tuple(input_shape[:-1]) + (9,))
        kernel = np.zeros((1, 1, 3, 9), "float32")
        kernel[0, 0, np.arange(3), np.arange(3)] = 1.0
        bias = np.zeros(9, "float32")
        bias[8] = self.spike
        self.wide.set_weights([kernel, bias])
        back = np.zeros((1, 1, 9, 3), "float32")
        back[0, 0, np.arange(3), np.arange(3)] = 1.0
        self.narrow.set_weights([back, np.zeros(3, "float32")])

    def call(self, inputs):
        return self.narrow(self.wide(inputs))

    def get_config(self):
        config = super().get_config()
        config.update({"spike": self.spike})
        return config


def upscaler(spike):
    """`lr -> bilinear x2 (SpikyBlock(spike)(lr))`, a Keras functional model."""
    inputs = keras.Input((None, None, 3), name="lr_image")
    x = SpikyBlock(spike, name="spiky")(inputs)
    x = ResizeUpsampling(2, interpolation="bilinear", name="upsample")(x)
    return keras.Model(inputs, x, name="toy")


@keras.saving.register_keras_serializable(package="keras_enlca_tests")
class BrightSpikes(keras.layers.Layer):
    """`x + gain * relu(x - threshold)`: rare, large values at bright pixels.

    Photos have few pixels above `threshold`, so the activation's min..max
    range is set by them (up to `1 + gain * (1 - threshold)`) while nearly
    every value lies in [0, 1]; the serving graph's final clip to [0, 1]
    removes the spikes again, so the float model is still an upscaler.

    Args:
        gain: height of the spikes per unit above `threshold`.
        threshold: pixel value above which spikes appear.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
    """

    def __init__(self, gain=1000.0, threshold=0.98, **kwargs):
        super().__init__(**kwargs)
        self.gain = float(gain)
        self.threshold = float(threshold)

    def call(self, inputs):
        return inputs + self.gain * keras.ops.relu(inputs - self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"gain": self.gain, "threshold": self.threshold})
        return config


def spiky_activation_upscaler(gain=1000.0):
    """`lr -> bilinear x2 (conv1x1 (BrightSpikes (conv1x1 (lr))))` (identities)."""
    inputs = keras.Input((None, None, 3), name="lr_image")
    first = keras.layers.Conv2D(3, 1, name="first")
    second = keras.layers.Conv2D(3, 1, name="second")
    x = first(inputs)
    x = BrightSpikes(gain, name="spikes")(x)
    x = second(x)
    x = ResizeUpsampling(2, interpolation="bilinear", name="upsample")(x)
    model = keras.Model(inputs, x, name="spiky_activations")
    identity = [np.eye(3, dtype="float32")[None, None], np.zeros(3, "float32")]
    first.set_weights(identity)
    second.set_weights(identity)
    return model


@keras.saving.register_keras_serializable(package="keras_enlca_tests")
class SmallResidual(keras.layers.Layer):
    """`x + 0.1 * conv3x3(x)`: a residual block with a small branch.

    Args:
        channels: channels of the stream.
        seed: seed of the convolution's initial weights.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, height, width, channels)`.
    """

    def __init__(self, channels=8, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.seed = int(seed)
        self.conv = keras.layers.Conv2D(
            self.channels,
            3,
            padding="same",
            kernel_initializer=keras.initializers.GlorotUniform(self.seed),
            name="conv",
        )

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs):
        return inputs + 0.1 * self.conv(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "seed": self.seed})
        return config


def residual_stream_upscaler(blocks=12, channels=8):
    """`lr -> bilinear x2 (tail (blocks x SmallResidual (head (lr))))`.

    The head (3 -> `channels`) copies the image into the stream, the tail
    reads the first three channels back: the float model is an upscaler,
    and only the residual stream separates an int8 export from it.
    """
    inputs = keras.Input((None, None, 3), name="lr_image")
    head = keras.layers.Conv2D(channels, 1, name="head")
    tail = keras.layers.Conv2D(3, 1, name="tail")
    x = head(inputs)
    for index in range(blocks):
        x = SmallResidual(channels, seed=index, name=f"block_{index}")(x)
    x = tail(x)
    x = ResizeUpsampling(2, interpolation="bilinear", name="upsample")(x)
    model = keras.Model(inputs, x, name="residual_stream")
    spread = np.zeros((1, 1, 3, channels), "float32")
    spread[0, 0, np.arange(channels) % 3, np.arange(channels)] = 1.0
    head.set_weights([spread, np.zeros(channels, "float32")])
    gather = np.zeros((1, 1, channels, 3), "float32")
    gather[0, 0, np.arange(3), np.arange(3)] = 1.0
    tail.set_weights([gather, np.zeros(3, "float32")])
    return model
