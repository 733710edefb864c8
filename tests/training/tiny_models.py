"""A tiny real super-resolution network and data for the callback tests."""

import keras
import numpy as np
import tensorflow as tf


def tiny_sr_model(scale=2, learning_rate=1e-2):
    """Bilinear upsampling then one 3x3 convolution, compiled with Adam + MAE."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.UpSampling2D(scale, interpolation="bilinear")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mae")
    return model


def patch_batches(scale=2, size=6, batch_size=2, count=8, seed=0, repeat=True):
    """`(lr, hr)` batches of random [0, 1] patches as a `tf.data.Dataset`."""
    rng = np.random.default_rng(seed)
    lr = rng.random((count, size, size, 3), dtype=np.float32)
    hr = rng.random((count, size * scale, size * scale, 3), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(batch_size)
    return dataset.repeat() if repeat else dataset


def fit(model, data=None, **kwargs):
    """`model.fit` on `data` (default: `patch_batches()`), quiet and in order."""
    data = patch_batches() if data is None else data
    return model.fit(data, verbose=0, shuffle=False, **kwargs)
