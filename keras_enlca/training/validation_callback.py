"""Validation PSNR/SSIM in the epoch logs of a training run."""

import keras

from keras_enlca.evaluation import evaluate
from keras_enlca.training.run_epochs import epoch_complete


class ValidationCallback(keras.callbacks.Callback):
    """Adds the Y-PSNR and SSIM of validation images to the epoch logs.

    At the end of every `every_n_epochs`-th epoch the model upscales each
    validation image and is scored as `keras_enlca.evaluation.evaluate`
    scores it (output rounded to uint8, luminance, `scale` pixels shaved
    per border: the MATLAB conventions). `val_psnr` and `val_ssim`, the
    means over the images of all datasets, go into the epoch's `logs`,
    where the callbacks after this one (`TrainingLogger`, TensorBoard) find
    them.

    With a `checkpoint` (the run's `RunCheckpoint`, which counts the
    finished steps), only complete epochs are scored: an epoch cut short by
    a stop request or a time limit is not, and the epoch that reaches
    `total_steps` always is, whatever `every_n_epochs` says.

    Args:
        datasets: an `SRDataset` or a list of them (e.g. from
            `keras_enlca.data.open_datasets`).
        scale: int. The upscaling factor (and the shaved border).
        every_n_epochs: int. Score at the end of epochs whose number
            (1-based) is a multiple of this.
        checkpoint: optional `RunCheckpoint` of the run, whose `step` is
            the number of finished optimizer steps.
        steps_per_epoch: int. The run's epoch length (with `checkpoint`).
        total_steps: int. The run's length in steps (with `checkpoint`).

    Example:

    ```python
    set5 = keras_enlca.data.open_dataset("benchmark/Set5", scale=2)
    model.fit(
        train,
        epochs=10,
        steps_per_epoch=1000,
        callbacks=[ValidationCallback(set5, scale=2)],
    )
    model.history.history["val_psnr"]  # one value per epoch
    ```
    """

    def __init__(
        self,
        datasets,
        scale,
        every_n_epochs=1,
        checkpoint=None,
        steps_per_epoch=None,
        total_steps=None,
    ):
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(
                "`every_n_epochs` must be >= 1. "
                f"Received: every_n_epochs={every_n_epochs}"
            )
        if checkpoint is not None and None in (steps_per_epoch, total_steps):
            raise ValueError(
                "With a `checkpoint`, `steps_per_epoch` and `total_steps` are "
                f"needed. Received: steps_per_epoch={steps_per_epoch}, "
                f"total_steps={total_steps}"
            )
        if not isinstance(datasets, (list, tuple)):
            datasets = [datasets]
        self.datasets = list(datasets)
        self.scale = scale
        self.every_n_epochs = int(every_n_epochs)
        self.checkpoint = checkpoint
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps

    def validate(self, model):
        """`{"val_psnr": ..., "val_ssim": ...}` of `model` (means over the images)."""
        report = evaluate(
            model, self.datasets, scale=self.scale, bicubic_baseline=False
        )
        images = [image for d in report.datasets for image in d["images"]]
        return {
            "val_psnr": float(sum(i["psnr"] for i in images) / len(images)),
            "val_ssim": float(sum(i["ssim"] for i in images) / len(images)),
        }

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        last = False
        if self.checkpoint is not None:
            step = self.checkpoint.step
            if not epoch_complete(step, self.steps_per_epoch, self.total_steps):
                return
            last = step >= self.total_steps
        if (epoch + 1) % self.every_n_epochs and not last:
            return
        logs.update(self.validate(self.model))
