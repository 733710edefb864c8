"""Runs saved models under one Keras backend and writes what they compute.

`python -m tests.backends.probe all|data_parallel DIR` with `KERAS_BACKEND`
set. Reads
`DIR/<name>.keras` and `DIR/batch.npz` (written under TensorFlow by the
tests), writes `DIR/<backend>.npz`:

- `forward`: for every network and layer, the inference and training-mode
  outputs, `compute_loss`, its L1 and contrastive parts and the gradients
  of the loss with respect to the trainable weights (each backend's own
  autodiff);
- `fit`: two `model.fit` steps of every network (logs and weights);
- `data_parallel` (JAX): two `fit` steps with `keras.distribution.DataParallel`
  over the host devices against the same steps on one device.
"""

import os
import sys

import keras
import numpy as np

import keras_enlca  # noqa: F401  (registers the classes: nothing else)

BACKEND = keras.backend.backend()
NETWORKS = ("enlcn", "nlsn", "edsr", "a2n")
LAYERS = ("enlca", "nla", "nlsa", "resize")
FIT_LEARNING_RATE = 1e-4


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _load(folder, name, learning_rate=1e-3):
    model = keras.saving.load_model(os.path.join(folder, f"{name}.keras"))
    if isinstance(model, keras_enlca.models.SuperResolutionModel):
        # Weight 1 and no warm-up: the contrastive gradient is visible.
        model.compile(
            optimizer=keras_enlca.models.reference_adam(learning_rate),
            contrastive_weight=1.0,
            contrastive_warmup_steps=0,
        )
    return model


def _loss(model, x, y, y_pred):
    if isinstance(model, keras_enlca.models.SuperResolutionModel):
        return model.compute_loss(x, y, y_pred, training=True)
    # A layer: its output's mean plus its added losses.
    total = keras.ops.mean(y_pred)
    for value in model.losses:
        total = total + value
    return total


def _gradients_tensorflow(model, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = _loss(model, x, y, y_pred)
    grads = tape.gradient(loss, model.trainable_variables)
    return y_pred, loss, [tf.convert_to_tensor(g) for g in grads]


def _gradients_torch(model, x, y):
    import torch

    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    y_pred = model(x, training=True)
    loss = _loss(model, x, y, y_pred)
    if loss.requires_grad:  # not for a layer without weights
        loss.backward()
    return y_pred, loss, [v.value.grad for v in model.trainable_variables]


def _gradients_jax(model, x, y):
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss_fn(trainable):
        y_pred, _, losses = model.stateless_call(
            trainable, non_trainable, x, training=True, return_losses=True
        )
        if isinstance(model, keras_enlca.models.SuperResolutionModel):
            model._losses_override = losses
            metrics = [v.value for v in model.metrics_variables]
            loss, _ = model.stateless_compute_loss(
                trainable, non_trainable, metrics, x, y, y_pred, training=True
            )
            model._losses_override = []
            return loss, y_pred
        return keras.ops.mean(y_pred) + sum(losses), y_pred

    (loss, y_pred), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
    return y_pred, loss, grads


def forward(folder):
    batch = np.load(os.path.join(folder, "batch.npz"))
    results = {}
    for name in NETWORKS + LAYERS:
        x = batch["layer_x"] if name in LAYERS else batch["x"]
        y = batch["y"]
        model = _load(folder, name)
        results[f"{name}/inference"] = _numpy(model(x, training=False))
        y_pred, loss, grads = globals()[f"_gradients_{BACKEND}"](model, x, y)
        results[f"{name}/training"] = _numpy(y_pred)
        results[f"{name}/loss"] = _numpy(loss)
        for i, grad in enumerate(grads):
            results[f"{name}/grad/{i}"] = _numpy(grad)
    np.savez(os.path.join(folder, f"forward_{BACKEND}.npz"), **results)


def fit(folder):
    batch = np.load(os.path.join(folder, "batch.npz"))
    results = {}
    for name in NETWORKS:
        model = _load(folder, name, learning_rate=FIT_LEARNING_RATE)
        history = model.fit(
            batch["x"], batch["y"], batch_size=2, epochs=1, shuffle=False, verbose=0
        ).history
        for key, values in history.items():
            results[f"{name}/log/{key}"] = np.asarray(values)
        for i, weight in enumerate(model.trainable_weights):
            results[f"{name}/weight/{i}"] = _numpy(weight)
        results[f"{name}/evaluate"] = np.asarray(
            model.evaluate(batch["x"], batch["y"], verbose=0)
        )
        # The trained model, for export on TensorFlow.
        model.save(os.path.join(folder, f"{name}_trained_{BACKEND}.keras"))
        results[f"{name}/trained_output"] = _numpy(model(batch["x"], training=False))
    np.savez(os.path.join(folder, f"fit_{BACKEND}.npz"), **results)


def data_parallel(folder):
    import jax

    batch = np.load(os.path.join(folder, "batch.npz"))
    results = {"devices": np.asarray(len(jax.devices()))}
    for mode in ("one", "data_parallel"):
        if mode == "data_parallel":
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        model = _load(folder, "enlcn", learning_rate=FIT_LEARNING_RATE)
        history = model.fit(
            batch["x"], batch["y"], batch_size=4, epochs=1, shuffle=False, verbose=0
        ).history
        keras.distribution.set_distribution(None)
        for key, values in history.items():
            results[f"{mode}/log/{key}"] = np.asarray(values)
        for i, weight in enumerate(model.trainable_weights):
            results[f"{mode}/weight/{i}"] = _numpy(weight)
    np.savez(os.path.join(folder, "data_parallel.npz"), **results)


def forward_and_fit(folder):
    forward(folder)
    fit(folder)


if __name__ == "__main__":
    mode, folder = sys.argv[1], sys.argv[2]
    {"all": forward_and_fit, "data_parallel": data_parallel}[mode](folder)
