import os

import keras
import numpy as np
import pytest

from keras_enlca.models import EDSR
from keras_enlca.models import ENLCN
from keras_enlca.models import SuperResolutionModel
from keras_enlca.models import y_channel_psnr
from tests.models import common


def tiny_enlcn(**kwargs):
    # amplification 1 keeps exp(q.k) flat enough for a non-zero hinge loss.
    return ENLCN(
        scale=2,
        num_blocks=1,
        filters=8,
        attention_every=1,
        amplification=1.0,
        **kwargs,
    )


def numpy_y_psnr(hr, sr, shave):
    def luma(image):
        image = np.round(np.clip(image.astype(np.float64), 0, 1) * 255.0)
        return 16.0 + image @ np.array([65.481, 128.553, 24.966]) / 255.0

    diff = (luma(hr) - luma(sr))[:, shave:-shave, shave:-shave]
    return 10 * np.log10(255.0**2 / np.mean(diff**2, axis=(1, 2)))


def test_y_channel_psnr_matches_matlab_recipe(rng):
    hr = np.round(rng.random((3, 20, 18, 3)) * 255) / 255
    sr = np.clip(hr + rng.normal(0, 0.03, hr.shape), -0.1, 1.1)
    out = keras.ops.convert_to_numpy(
        y_channel_psnr(hr.astype("float32"), sr.astype("float32"), 3)
    )
    np.testing.assert_allclose(out, numpy_y_psnr(hr, sr, 3), rtol=1e-5)
    same = keras.ops.convert_to_numpy(
        y_channel_psnr(hr.astype("float32"), hr.astype("float32"), 2)
    )
    np.testing.assert_allclose(
        same, 10 * np.log10(255.0**2 / 1e-10), rtol=1e-6
    )  # MSE floor


@pytest.mark.tensorflow_only  # tf.GradientTape; tests/backends covers the rest
def test_contrastive_term_absent_before_warmup_and_weighted_after():
    """Loss and gradients are L1 for steps < warm-up, L1 + λ·mean(L_cl) after."""
    import tensorflow as tf

    lr_images, hr_images = common.synthetic_pairs(2, 12, 2)
    model = tiny_enlcn()
    learning_rate, weight = 0.05, 0.5
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        contrastive_weight=weight,
        contrastive_warmup_steps=2,
        run_eagerly=True,
    )
    for step in range(4):
        before = [v.numpy() for v in model.trainable_weights]
        with tf.GradientTape() as tape:
            sr = model(lr_images, training=True)
            l1 = tf.reduce_mean(tf.abs(sr - hr_images))
            contrastive = tf.reduce_mean(
                [tf.add_n(layer.losses) for layer in model.attention_layers]
            )
            expected_loss = l1 + (weight * contrastive if step >= 2 else 0.0)
        gradients = tape.gradient(expected_loss, model.trainable_weights)
        logs = model.train_on_batch(lr_images, hr_images, return_dict=True)
        assert int(model.optimizer.iterations.numpy()) == step + 1
        assert logs["contrastive"] > 0.05
        np.testing.assert_allclose(logs["l1"], l1.numpy(), rtol=1e-5)
        np.testing.assert_allclose(logs["contrastive"], contrastive.numpy(), rtol=1e-5)
        if step < 2:
            assert logs["loss"] == logs["l1"]
        else:
            np.testing.assert_allclose(
                logs["loss"], logs["l1"] + weight * logs["contrastive"], rtol=1e-6
            )
        for variable, old, gradient in zip(model.trainable_weights, before, gradients):
            np.testing.assert_allclose(
                variable.numpy(),
                old - learning_rate * gradient.numpy(),
                rtol=1e-4,
                atol=1e-6,
            )


def test_models_without_enlca_report_no_contrastive():
    lr_images, hr_images = common.synthetic_pairs(2, 6, 2)
    model = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
    model.compile(run_eagerly=True)
    logs = model.train_on_batch(lr_images, hr_images, return_dict=True)
    assert set(logs) == {"loss", "l1"}
    logs = model.evaluate(lr_images, hr_images, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "l1", "psnr"}
    sr = model.predict(lr_images, verbose=0)
    np.testing.assert_allclose(
        logs["psnr"], numpy_y_psnr(hr_images, sr, 2).mean(), rtol=1e-4
    )


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_mirrored_strategy_matches_one_device():
    """Same global batch, same weights: the per-step loss, l1 and contrastive
    of 2 replicas equal one device's within 1e-5 (float reassociation)."""
    lr_images, hr_images = common.synthetic_pairs(4, 12, 2)
    data = common.dataset(lr_images, hr_images, 4)  # One step per epoch.
    settings = dict(contrastive_weight=0.5, contrastive_warmup_steps=1)

    reference = tiny_enlcn()
    weights = reference.get_weights()
    reference.compile(
        optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True, **settings
    )
    expected = reference.fit(data, epochs=3, verbose=0).history

    strategy = common.mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = tiny_enlcn()
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), **settings)
    history = model.fit(data, epochs=3, verbose=0).history
    for name in ("loss", "l1", "contrastive"):
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-5, atol=1e-7)
    # Warm-up of one step: L1 only at step 0, weighted contrastive after.
    assert history["loss"][0] == history["l1"][0]
    np.testing.assert_allclose(
        np.array(history["loss"][1:]),
        np.array(history["l1"][1:]) + 0.5 * np.array(history["contrastive"][1:]),
        rtol=1e-6,
    )
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_mixed_precision_output_is_float32_and_trains():
    lr_images, hr_images = common.synthetic_pairs(2, 12, 2)
    reference = tiny_enlcn()
    expected = keras.ops.convert_to_numpy(reference(lr_images))
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = tiny_enlcn()
    model.set_weights(reference.get_weights())
    assert model.get_layer("body_conv").compute_dtype == "float16"
    out = model(lr_images)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, atol=5e-3)
    model.compile(run_eagerly=True, contrastive_warmup_steps=0)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    logs = model.train_on_batch(lr_images, hr_images, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())


@pytest.mark.tensorflow_only
def test_xla_training_matches_eager():
    lr_images, hr_images = common.synthetic_pairs(4, 8, 2)
    losses = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(7)
        model = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            jit_compile=jit_compile,
            run_eagerly=not jit_compile,
        )
        losses.append(
            model.fit(lr_images, hr_images, batch_size=4, epochs=2, verbose=0).history[
                "loss"
            ]
        )
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_compile_settings_and_errors():
    model = EDSR(scale=2, num_blocks=1, filters=8)
    model.compile()
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.999, 1e-8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(optimizer.learning_rate), 1e-4
    )
    assert model.contrastive_weight == 1e-3
    assert model.contrastive_warmup_steps == 101_000
    config = model.get_compile_config()
    assert config["contrastive_warmup_steps"] == 101_000
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="mse")
    with pytest.raises(ValueError, match="contrastive_weight"):
        model.compile(contrastive_weight=-1.0)


def test_custom_functional_network(tmp_path):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(12, 3, padding="same")(inputs)
    outputs = keras.layers.Conv2D(3, 1)(keras.layers.UpSampling2D(2)(x))
    model = SuperResolutionModel(inputs, outputs, scale=2, name="custom")
    model.compile(contrastive_warmup_steps=5)
    lr_images, hr_images = common.synthetic_pairs(2, 6, 2)
    model.fit(lr_images, hr_images, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "custom.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, SuperResolutionModel) and restored.scale == 2
    assert restored.contrastive_warmup_steps == 5
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(lr_images)),
        keras.ops.convert_to_numpy(model(lr_images)),
    )


def test_custom_functional_network_with_enlca_logs_contrastive():
    # A user's own graph wrapped in SuperResolutionModel: L1 + weighted
    # contrastive, logged as loss/l1/contrastive on every backend.
    from keras_enlca.layers import ENLCA

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = ENLCA(reduction=2, amplification=1.0, projection_seed=1)(x)
    outputs = keras.layers.Conv2D(3, 1)(keras.layers.UpSampling2D(2)(x))
    model = SuperResolutionModel(inputs, outputs, scale=2)
    model.compile(contrastive_weight=0.5, contrastive_warmup_steps=0)
    lr_images, hr_images = common.synthetic_pairs(2, 12, 2)
    logs = model.fit(lr_images, hr_images, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "l1", "contrastive"}
    assert logs["contrastive"][0] > 0
    np.testing.assert_allclose(
        logs["loss"][0], logs["l1"][0] + 0.5 * logs["contrastive"][0], rtol=1e-5
    )
