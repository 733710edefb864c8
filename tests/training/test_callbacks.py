import os

import keras
import numpy as np
import pytest

from keras_enlca.models import EDSR
from keras_enlca.models import ENLCN
from keras_enlca.training import ProjectionRedraw
from keras_enlca.training import reference_callbacks
from tests.models import common


def test_reference_callback_list(tmp_path):
    enlcn = ENLCN(scale=2, num_blocks=1, filters=8, attention_every=1)
    callbacks = reference_callbacks(
        enlcn, backup_dir=str(tmp_path / "backup"), log_dir=str(tmp_path / "logs")
    )
    assert [type(c) for c in callbacks] == [
        ProjectionRedraw,
        keras.callbacks.TerminateOnNaN,
        keras.callbacks.BackupAndRestore,
        keras.callbacks.TensorBoard,
    ]
    assert callbacks[0].every_n_steps == 640
    edsr = EDSR(scale=2, num_blocks=1, filters=8)
    assert [type(c) for c in reference_callbacks(edsr)] == [
        keras.callbacks.TerminateOnNaN
    ]


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def test_resume_after_interruption_and_logs(tmp_path):
    lr_images, hr_images = common.synthetic_pairs(4, 6, 2)
    backup, logs = str(tmp_path / "backup"), str(tmp_path / "logs")

    def run(extra):
        keras.utils.set_random_seed(5)
        model = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
        callbacks = reference_callbacks(model, backup_dir=backup, log_dir=logs) + extra
        history = model.fit(
            lr_images,
            hr_images,
            batch_size=2,
            epochs=4,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        return model, history

    with pytest.raises(RuntimeError, match="interrupted"):
        run([Interrupt()])
    model, history = run([])
    # The second fit resumed at epoch 2 with the optimizer state of step 4.
    assert len(history.history["loss"]) == 2
    assert int(model.optimizer.iterations.numpy()) == 8
    assert os.listdir(os.path.join(logs, "train"))

    keras.utils.set_random_seed(5)
    straight = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
    straight.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    straight.fit(lr_images, hr_images, batch_size=2, epochs=4, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stops_on_nan():
    lr_images, hr_images = common.synthetic_pairs(4, 6, 2)
    hr_images[:] = np.nan
    model = EDSR(scale=2, num_blocks=1, filters=8, rgb_range=1.0)
    model.compile(run_eagerly=True)
    history = model.fit(
        lr_images,
        hr_images,
        batch_size=2,
        epochs=3,
        verbose=0,
        callbacks=reference_callbacks(model),
    )
    assert len(history.history["loss"]) == 1
    assert int(model.optimizer.iterations.numpy()) == 1
