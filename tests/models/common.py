"""Shared helpers of the model tests: tiny synthetic data and fits."""

import os

import keras
import numpy as np


def mirrored_strategy():
    """The 2-replica MirroredStrategy over the two logical CPUs."""
    from keras_enlca.training import get_strategy

    return get_strategy("mirrored")


def synthetic_pairs(count, lr_size, scale, seed=0):
    """Smooth random HR images in [0, 1] and their box-downscaled LR."""
    rng = np.random.default_rng(seed)
    size = lr_size * scale
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    hr = np.zeros((count, size, size, 3), "float32")
    for n in range(count):
        for c in range(3):
            fx, fy = rng.uniform(0.05, 0.4, 2)
            phase = rng.uniform(0, 2 * np.pi)
            hr[n, :, :, c] = 0.5 + 0.4 * np.sin(fx * xx + fy * yy + phase)
    lr = hr.reshape(count, lr_size, scale, lr_size, scale, 3).mean(axis=(2, 4))
    return lr.astype("float32"), hr


def dataset(lr, hr, batch_size):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((lr, hr)).batch(batch_size)


def check_fit_lowers_loss_and_save_load(model, tmp_path, epochs=6, learning_rate=2e-3):
    """Fit on 8 tiny pairs; the loss drops; a `.keras` round trip is exact."""
    lr, hr = synthetic_pairs(8, 12, model.scale)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = model.fit(dataset(lr, hr, 4), epochs=epochs, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    np.testing.assert_allclose(history["loss"], history["l1"], rtol=1e-6)

    x = lr[:2]
    expected = model(x, training=False).numpy()
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(restored(x, training=False).numpy(), expected)
    assert restored.get_compile_config() == model.get_compile_config()
    return history


def check_odd_sizes(model_factory, sizes=((13, 15), (9, 17))):
    """Every scale maps any odd (height, width) to scale times the size."""
    rng = np.random.default_rng(1)
    for scale in (2, 3, 4):
        model = model_factory(scale)
        for height, width in sizes:
            x = rng.random((2, height, width, 3), dtype=np.float32)
            out = model(x, training=False)
            assert out.shape == (2, height * scale, width * scale, 3)
            assert out.dtype == "float32"
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
