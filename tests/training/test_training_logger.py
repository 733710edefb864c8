import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.training.run_checkpoint import RunCheckpoint
from keras_enlca.training.step_decay import StepDecay
from keras_enlca.training.training_logger import TrainingLogger
from keras_enlca.training.training_logger import python_number
from tests.training.tiny_models import fit
from tests.training.tiny_models import tiny_sr_model


def test_python_number():
    assert python_number(np.float32(2e-4), digits=7) == 2e-4
    assert python_number(np.float32(2e-4)) == float(np.float32(2e-4)) != 2e-4
    assert python_number(np.float32(0.0), digits=7) == 0.0
    assert python_number("1.5") == 1.5
    for value in (np.nan, np.inf, -np.inf, None, "loss", [1, 2]):
        assert python_number(value) is None


def test_lines_and_history_rows_hold_the_step_loss_and_learning_rate(tmp_path):
    schedule = StepDecay(1e-2, milestones=[1], steps_per_epoch=3, gamma=0.5)
    model = tiny_sr_model()
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mae")
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", every_n_steps=100)
    lines = []
    logger = TrainingLogger(
        checkpoint, 3, 6, schedule, log=lines.append, print_every_s=0
    )
    batch_losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_losses.append(float(logs["loss"]))
    )
    history = fit(
        model, epochs=2, steps_per_epoch=3, callbacks=[logger, record, checkpoint]
    )
    rows = checkpoint.state["history"]
    assert [(r["epoch"], r["step"], r["steps"]) for r in rows] == [(1, 3, 3), (2, 6, 3)]
    # The rate of each epoch's last step: halved at epoch 1.
    assert [r["learning_rate"] for r in rows] == [1e-2, 5e-3]
    assert history.history["learning_rate"] == [1e-2, 5e-3]  # for TensorBoard
    for row, loss in zip(rows, history.history["loss"]):
        assert row["loss"] == pytest.approx(loss, rel=1e-6)
        assert row["seconds"] >= 0
    # Progress lines (every 2 steps after the first) and one line an epoch.
    assert len(lines) == 4
    for line, step in zip(lines[0::2], (3, 5)):
        match = re.fullmatch(rf"  step {step}/6  loss (\S+)  \d+\.\d\d steps/s", line)
        assert match and float(match.group(1)) == round(batch_losses[step - 1], 5)
    for line, row, lr in zip(lines[1::2], rows, ("0.01", "0.005")):
        prefix = f"epoch {row['epoch']}/2  step {row['step']}/6  loss {row['loss']:.5f}"
        assert line.startswith(prefix + f"  lr {lr}  ") and line.endswith(" s")


def test_resumed_and_stopped_epochs(tmp_path):
    model = tiny_sr_model()
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", every_n_steps=100)
    lines = []
    logger = TrainingLogger(checkpoint, 4, 8, 1e-3, log=lines.append)
    # Resumed at step 2 of epoch 1: its row counts the 2 steps run here.
    checkpoint.step = 2
    fit(model, epochs=1, steps_per_epoch=2, callbacks=[logger, checkpoint])
    (row,) = checkpoint.state["history"]
    assert (row["epoch"], row["step"], row["steps"], row["learning_rate"]) == (
        1,
        4,
        2,
        1e-3,
    )
    # The 30 s between progress lines have not passed: only the epoch line.
    assert len(lines) == 1 and lines[0].startswith("epoch 1/2  step 4/8  loss ")
    # An epoch stopped after 1 of its 4 steps gets no row and no line.
    checkpoint.request_stop("test")
    fit(
        model,
        initial_epoch=1,
        epochs=2,
        steps_per_epoch=4,
        callbacks=[logger, checkpoint],
    )
    assert checkpoint.step == 5 and len(checkpoint.state["history"]) == 1
    assert len(lines) == 1


def test_a_diverged_loss_stops_before_the_step_is_saved(tmp_path):
    model = tiny_sr_model()
    lr = np.full((4, 6, 6, 3), 0.5, np.float32)
    lr[2:] = np.nan  # the second batch
    data = tf.data.Dataset.from_tensor_slices((lr, np.zeros((4, 12, 12, 3)))).batch(2)
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", every_n_steps=1)
    logger = TrainingLogger(checkpoint, 2, 2, 1e-3, log=lambda line: None)
    with pytest.raises(
        InputError,
        match=r"^training diverged: the loss is nan at step 2 \(try a lower "
        r"'schedule.learning_rate'\); the checkpoint of step 1 is kept$",
    ):
        fit(model, data, epochs=1, steps_per_epoch=2, callbacks=[logger, checkpoint])
    assert [step for step, _ in checkpoint.checkpoints()] == [1]
    # Without any checkpoint yet.
    model = tiny_sr_model()
    checkpoint = RunCheckpoint(tmp_path / "none", every_n_steps=100)
    logger = TrainingLogger(checkpoint, 2, 2, 1e-3, log=lambda line: None)
    with pytest.raises(InputError, match=r"at step 2 .*; no checkpoint was written$"):
        fit(model, data, epochs=1, steps_per_epoch=2, callbacks=[logger, checkpoint])
    assert checkpoint.checkpoints() == []
