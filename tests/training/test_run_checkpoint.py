import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.training.run_checkpoint import RunCheckpoint


def _model():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(1e-2), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)


class _StopAt(keras.callbacks.Callback):
    """Requests a stop at the end of step `step` (placed before the checkpoint)."""

    def __init__(self, checkpoint, step):
        super().__init__()
        self.checkpoint, self.at, self.seen = checkpoint, step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            self.checkpoint.request_stop("test")


def test_stop_save_restore_is_step_exact(tmp_path):
    directory = tmp_path / "ckpt"
    model = _model()
    checkpoint = RunCheckpoint(directory, every_n_steps=4, keep=2, state={"rows": [1]})
    model.fit(
        _data(),
        epochs=3,
        steps_per_epoch=10,
        verbose=0,
        shuffle=False,
        callbacks=[_StopAt(checkpoint, 13), checkpoint],
    )
    assert checkpoint.stop_reason == "test"
    assert checkpoint.step == 13
    assert int(model.optimizer.iterations.numpy()) == 13
    # Saved at 4, 8, 10 (epoch end), 12 and 13 (stop); two kept.
    assert [s for s, _ in checkpoint.checkpoints()] == [12, 13]
    state = checkpoint.latest_state()
    assert state["step"] == 13 and state["optimizer_iterations"] == 13
    assert state["state"] == {"rows": [1]}
    assert not [n for n in os.listdir(directory) if n.startswith(".")]
    weights = model.get_weights()
    moments = [v.numpy() for v in model.optimizer.variables]

    keras.utils.clear_session()
    fresh = _model()
    fresh.build((None, 4))
    resumed = RunCheckpoint(directory, every_n_steps=4, keep=2)
    assert resumed.restore(fresh) == 13
    assert resumed.state == {"rows": [1]}
    for a, b in zip(weights, fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(moments, [v.numpy() for v in fresh.optimizer.variables]):
        np.testing.assert_array_equal(a, b)
    # Finish epoch 1 (7 steps), then epoch 2.
    fresh.fit(
        _data(),
        initial_epoch=1,
        epochs=2,
        steps_per_epoch=7,
        verbose=0,
        shuffle=False,
        callbacks=[resumed],
    )
    fresh.fit(
        _data(),
        initial_epoch=2,
        epochs=3,
        steps_per_epoch=10,
        verbose=0,
        shuffle=False,
        callbacks=[resumed],
    )
    assert resumed.step == 30
    assert int(fresh.optimizer.iterations.numpy()) == 30
    assert resumed.latest_state()["optimizer_iterations"] == 30


def test_time_limit_and_fallback_to_previous_checkpoint(tmp_path):
    directory = tmp_path / "ckpt"
    model = _model()
    checkpoint = RunCheckpoint(directory, every_n_steps=100, time_limit=0.0)
    model.fit(
        _data(),
        epochs=2,
        steps_per_epoch=5,
        verbose=0,
        shuffle=False,
        callbacks=[checkpoint],
    )
    assert checkpoint.stop_reason == "time limit" and checkpoint.step == 1
    # A damaged newest checkpoint falls back to the one before.
    model.fit(
        _data(),
        epochs=1,
        steps_per_epoch=5,
        verbose=0,
        shuffle=False,
        callbacks=[RunCheckpoint(directory, every_n_steps=2, keep=5)],
    )
    found = RunCheckpoint(directory).checkpoints()
    assert [s for s, _ in found] == [1, 2, 4, 5]
    with open(os.path.join(found[-1][1], "model.weights.h5"), "wb") as f:
        f.write(b"not hdf5")
    fresh = _model()
    fresh.build((None, 4))
    assert RunCheckpoint(directory).restore(fresh) == 4
    with open(os.path.join(found[-2][1], "state.json")) as f:
        assert json.load(f)["step"] == 4


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_an_optimizer_that_does_not_fit_is_an_error(tmp_path):
    model = _model()
    checkpoint = RunCheckpoint(tmp_path, every_n_steps=3)
    model.fit(
        _data(),
        epochs=1,
        steps_per_epoch=3,
        verbose=0,
        shuffle=False,
        callbacks=[checkpoint],
    )
    other = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)]
    )
    # A schedule instead of a constant: one variable fewer, which Keras
    # would skip with a mere warning (and restart at iteration 0).
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    other.compile(keras.optimizers.Adam(schedule), loss="mse")
    with pytest.raises(
        ValueError,
        match=(
            "does not fit this model's optimizer \\(it has 3 iterations, 0 were "
            "loaded\\)"
        ),
    ):
        RunCheckpoint(tmp_path).restore(other)


def _damage(path, how):
    size = os.path.getsize(path)
    if how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    elif how == "zero":
        with open(path, "r+b") as f:
            f.write(b"\0" * size)
    else:  # flip bytes in the second half, size unchanged
        with open(path, "r+b") as f:
            f.seek(size * 3 // 4)
            chunk = f.read(16)
            f.seek(size * 3 // 4)
            f.write(bytes(b ^ 0xFF for b in chunk))


def _train_to(directory, steps, warnings=None):
    model = _model()
    checkpoint = RunCheckpoint(
        directory,
        every_n_steps=1,
        keep=3,
        warn=None if warnings is None else warnings.append,
    )
    start = checkpoint.restore(model)
    if steps > start:
        model.fit(
            _data(),
            epochs=1,
            steps_per_epoch=steps - start,
            callbacks=[checkpoint],
            verbose=0,
        )
    return model, checkpoint, start


@pytest.mark.parametrize(
    "name, how",
    [
        ("model.weights.h5", "truncate"),
        ("model.weights.h5", "zero"),
        # Same size: the optimizer moments near the end of the HDF5 file.
        ("model.weights.h5", "flip"),
        ("state.json", "truncate"),
        ("state.json", "zero"),
        ("manifest.json", "truncate"),
        ("manifest.json", "zero"),
        ("manifest.json", "remove"),
    ],
)
def test_damaged_newest_checkpoint_is_skipped_with_a_warning(tmp_path, name, how):
    directory = tmp_path / "checkpoints"
    _train_to(directory, 6)
    newest = directory / "step-000000006"
    assert sorted(os.listdir(newest)) == [
        "manifest.json",
        "model.weights.h5",
        "state.json",
    ]
    if how == "remove":
        os.remove(newest / name)
    else:
        _damage(newest / name, how)
    warnings = []
    assert RunCheckpoint(directory, warn=warnings.append).latest_state()["step"] == 5
    assert len(warnings) == 1 and str(newest) in warnings[0] and "\n" not in warnings[0]
    warnings = []
    model, checkpoint, start = _train_to(directory, 7, warnings)
    assert start == 5
    assert len(warnings) == 1 and "step-000000006" in warnings[0]
    # Continued step-exactly: two more steps, the damaged step written anew.
    state = RunCheckpoint(directory).latest_state()
    assert state["step"] == state["optimizer_iterations"] == 7
    assert int(model.optimizer.iterations.numpy()) == 7
    assert [s for s, _ in checkpoint.checkpoints()] == [5, 6, 7]


def test_checkpoint_without_manifest_from_older_versions_still_loads(tmp_path):
    directory = tmp_path / "checkpoints"
    reference, _, _ = _train_to(directory, 3)
    for step in (1, 2, 3):  # make them look like pre-manifest checkpoints
        folder = directory / f"step-{step:09d}"
        os.remove(folder / "manifest.json")
        state = json.loads((folder / "state.json").read_text())
        del state["format"]
        (folder / "state.json").write_text(json.dumps(state))
    model = _model()
    assert RunCheckpoint(directory).restore(model) == 3
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_leftover_temporaries_are_removed_but_nothing_else(tmp_path):
    directory = tmp_path / "checkpoints"
    _train_to(directory, 2)
    (directory / ".step-000000003.ab12cd34.tmp").mkdir()
    (directory / ".step-000000003.ab12cd34.tmp" / "model.weights.h5").write_bytes(b"x")
    (directory / "notes.txt").write_text("mine")
    (directory / ".step-notes").mkdir()
    removed = RunCheckpoint(directory).remove_temporaries()
    assert [os.path.basename(p) for p in removed] == [".step-000000003.ab12cd34.tmp"]
    assert sorted(os.listdir(directory)) == [
        ".step-notes",
        "notes.txt",
        "step-000000001",
        "step-000000002",
    ]
