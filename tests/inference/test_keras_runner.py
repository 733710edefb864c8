import keras
import numpy as np

from keras_enlca.inference import KerasRunner
from keras_enlca.inference import keras_forward


def bright_model(upsampling):
    """x2 upscale then `3 * x - 1`: outputs outside [0, 1] on purpose."""
    inputs = keras.Input((None, None, 3))
    x = upsampling(inputs)
    outputs = keras.layers.Rescaling(3.0, offset=-1.0)(x)
    return keras.Model(inputs, outputs)


def images(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((1, height, width, 3), dtype=np.float32)


def test_keras_forward_matches_the_model_and_does_not_clip():
    model = bright_model(keras.layers.UpSampling2D(2))
    forward = keras_forward(model)
    for height, width in ((8, 8), (5, 9)):
        x = images(height, width)
        out = forward(x)
        assert out.dtype == np.float32 and out.shape == (1, 2 * height, 2 * width, 3)
        np.testing.assert_allclose(out, model(x, training=False), atol=1e-6)
        assert out.min() < -0.5 and out.max() > 1.5


def test_models_that_cannot_trace_unknown_sizes_run_per_shape():
    # Keras' bilinear UpSampling2D fails to trace with unknown height and
    # width; keras_forward then traces once per input shape.
    model = bright_model(keras.layers.UpSampling2D(2, interpolation="bilinear"))
    forward = keras_forward(model)
    for height, width in ((8, 8), (6, 10), (8, 8)):
        x = images(height, width, seed=height * width)
        np.testing.assert_allclose(forward(x), model(x, training=False), atol=1e-6)


def test_keras_runner_clips_the_shared_forward_pass():
    model = bright_model(keras.layers.UpSampling2D(2, interpolation="bilinear"))
    runner = KerasRunner(model)
    assert runner.scale == 2  # measured: the model has no `scale`
    x = images(7, 6)
    expected = np.clip(keras_forward(model)(x), 0.0, 1.0)
    np.testing.assert_array_equal(runner(x), expected)
    np.testing.assert_array_equal(runner(x[0]), expected[0])
    assert 0.0 < (expected == 1.0).mean() < 1.0  # some pixels were clipped
