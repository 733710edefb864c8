"""The reference set of training callbacks."""

import keras

from keras_enlca.models.sr_model import enlca_layers
from keras_enlca.training.projection_redraw import ProjectionRedraw


def reference_callbacks(
    model=None,
    backup_dir=None,
    log_dir=None,
    redraw_every_n_steps=640,
    redraw_every_epoch=False,
    redraw_seed=None,
    terminate_on_nan=True,
    backup_save_freq="epoch",
    tensorboard_update_freq="epoch",
):
    """Callbacks for training a network the way the reference does.

    - `ProjectionRedraw` (when `model` is None or has ENLCA layers, and a
      redraw is configured): redraw the ENLCA projections every 640 steps
      (reference) or every epoch (paper);
    - `keras.callbacks.TerminateOnNaN` (stop on a NaN/inf loss);
    - `keras.callbacks.BackupAndRestore(backup_dir)`: resume an
      interrupted `fit` (weights, optimizer state, epoch) by calling `fit`
      again with the same arguments;
    - `keras.callbacks.TensorBoard(log_dir)`: loss, l1, contrastive and
      validation PSNR curves.

    The learning-rate decay is a schedule on the optimizer (`StepDecay`,
    `reference_optimizer`), not a callback.

    Args:
        model: optional `keras.Model`; when given, `ProjectionRedraw` is only
            added if it has ENLCA layers.
        backup_dir: optional folder for `BackupAndRestore`.
        log_dir: optional folder for `TensorBoard`.
        redraw_every_n_steps: int or None. See `ProjectionRedraw`.
        redraw_every_epoch: bool. See `ProjectionRedraw`.
        redraw_seed: optional int. See `ProjectionRedraw`.
        terminate_on_nan: bool. Add `TerminateOnNaN`.
        backup_save_freq: `"epoch"` or an int number of steps.
        tensorboard_update_freq: `"epoch"`, `"batch"` or an int.

    Returns:
        A list of `keras.callbacks.Callback`.

    Example:

    ```python
    callbacks = keras_enlca.training.reference_callbacks(
        model, backup_dir="runs/enlcn/backup", log_dir="runs/enlcn/logs"
    )
    model.fit(dataset, epochs=1000, steps_per_epoch=1000, callbacks=callbacks)
    ```
    """
    callbacks = []
    wants_redraw = redraw_every_n_steps is not None or redraw_every_epoch
    if wants_redraw and (model is None or enlca_layers(model)):
        callbacks.append(
            ProjectionRedraw(
                every_n_steps=redraw_every_n_steps,
                every_epoch=redraw_every_epoch,
                seed=redraw_seed,
            )
        )
    if terminate_on_nan:
        callbacks.append(keras.callbacks.TerminateOnNaN())
    if backup_dir is not None:
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                backup_dir, save_freq=backup_save_freq, delete_checkpoint=True
            )
        )
    if log_dir is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir, update_freq=tensorboard_update_freq, write_graph=False
            )
        )
    return callbacks
