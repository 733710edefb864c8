"""Progress lines and the per-epoch history rows of a training run."""

import math
import time

import keras

from keras_enlca.errors import InputError
from keras_enlca.training.history_files import HISTORY_KEY
from keras_enlca.training.run_epochs import epoch_complete

# The keys of an epoch line, and their decimals.
EPOCH_LINE_KEYS = {"loss": 5, "l1": 5, "contrastive": 5, "val_psnr": 3, "val_ssim": 3}


def python_number(value, digits=None):
    """`value` as a finite Python float (None if it is not one).

    `digits`: significant digits to keep, so that float32 values read as
    short decimals (2e-4, not 0.00019999999494757503).
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    if digits is not None and value != 0:
        value = float(f"{value:.{digits}g}")
    return value


class TrainingLogger(keras.callbacks.Callback):
    """Prints a run's progress and keeps its per-epoch history.

    - after a step with a NaN or infinite loss, raises `InputError` (before
      the `RunCheckpoint` after it in the callback list sees the step, so
      that diverged weights are never saved);
    - every `print_every_s` seconds, a line
      `  step 40/1000  loss 0.01234  1.52 steps/s` (the first step, graph
      tracing, does not count in the rate);
    - at the end of every complete epoch, a row `{"epoch", "step", <the
      epoch logs: loss, l1, contrastive, val_psnr...>, "learning_rate",
      "steps", "seconds"}` appended to `checkpoint.state["history"]` (saved
      with the checkpoint, written out by `HistoryFiles`), the learning
      rate of the epoch's last step added to the logs (for TensorBoard), and
      a line `epoch 2/10  step 2000/10000  loss 0.01234 ... lr 0.0001  61.0 s`.

    Place it before the `RunCheckpoint` (whose `step` it reads) and after
    the callbacks that add to the epoch logs (`ValidationCallback`).

    Args:
        checkpoint: the run's `RunCheckpoint`; its `step` counts the
            finished steps and its `state` keeps the history.
        steps_per_epoch: int. The run's epoch length.
        total_steps: int. The run's length in steps.
        learning_rate: the optimizer's learning-rate schedule (a callable of
            the step, e.g. `StepDecay`) or a float.
        log: callable taking one line of text. Defaults to `print`.
        print_every_s: float. Seconds between progress lines within an
            epoch.

    Example:

    ```python
    checkpoint = RunCheckpoint("run/checkpoints", every_n_steps=100)
    logger = TrainingLogger(checkpoint, 1000, 10000, StepDecay(1e-4, [5], 1000))
    model.fit(data, epochs=10, steps_per_epoch=1000, callbacks=[logger, checkpoint])
    checkpoint.state["history"][-1]["learning_rate"]  # 5e-05
    ```
    """

    def __init__(
        self,
        checkpoint,
        steps_per_epoch,
        total_steps,
        learning_rate,
        log=print,
        print_every_s=30,
    ):
        super().__init__()
        self.checkpoint = checkpoint
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)
        self.learning_rate = learning_rate
        self.log = log
        self.print_every_s = print_every_s
        self.last_print = time.monotonic()
        self.mark = None

    @property
    def num_epochs(self):
        """The number of (possibly partial) epochs of the run."""
        return -(-self.total_steps // self.steps_per_epoch)

    def last_learning_rate(self):
        """The rate of the last step taken (the optimizer's is the next one's)."""
        rate = self.learning_rate
        if callable(rate):
            iterations = self.model.optimizer.iterations
            iterations = int(keras.ops.convert_to_numpy(iterations))
            rate = rate(max(iterations - 1, 0))
        return python_number(keras.ops.convert_to_numpy(rate), digits=7)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()
        self.epoch_first_step = self.checkpoint.step

    def on_train_batch_end(self, batch, logs=None):
        checkpoint = self.checkpoint
        loss = (logs or {}).get("loss")
        if loss is not None and python_number(loss) is None:
            kept = (
                f"the checkpoint of step {checkpoint.saved_step} is kept"
                if checkpoint.saved_step
                else "no checkpoint was written"
            )
            raise InputError(
                f"training diverged: the loss is {float(loss)} at step "
                f"{checkpoint.step + 1} (try a lower 'schedule.learning_rate'); "
                f"{kept}"
            )
        now = time.monotonic()
        # This callback runs before RunCheckpoint has counted the step.
        step = checkpoint.step + 1
        if self.mark is None:
            # The first step (graph tracing) does not count in the rate.
            self.mark = (now, step)
        elif (
            now - self.last_print >= self.print_every_s
            and step - self.mark[1] >= 2
            and logs
        ):
            rate = (step - self.mark[1]) / max(now - self.mark[0], 1e-9)
            self.last_print, self.mark = now, (now, step)
            loss = python_number(logs.get("loss"))
            self.log(
                f"  step {step}/{self.total_steps}  loss {loss:.5f}  {rate:.2f} steps/s"
            )

    def on_epoch_end(self, epoch, logs=None):
        checkpoint = self.checkpoint
        step = checkpoint.step
        if not epoch_complete(step, self.steps_per_epoch, self.total_steps):
            return
        seconds = time.monotonic() - self.epoch_start
        row = {"epoch": epoch + 1, "step": step}
        for key, value in (logs or {}).items():
            number = python_number(value, digits=7)
            if number is not None:
                row[key] = number
        row["learning_rate"] = self.last_learning_rate()
        if logs is not None:
            logs["learning_rate"] = row["learning_rate"]  # for TensorBoard
        row["steps"] = step - self.epoch_first_step
        row["seconds"] = round(seconds, 3)
        checkpoint.state.setdefault(HISTORY_KEY, []).append(row)
        parts = [
            f"epoch {epoch + 1}/{self.num_epochs}",
            f"step {step}/{self.total_steps}",
        ]
        for key, digits in EPOCH_LINE_KEYS.items():
            if key in row:
                parts.append(f"{key} {row[key]:.{digits}f}")
        parts.append(f"lr {row['learning_rate']:.3g}")
        parts.append(f"{seconds:.1f} s")
        self.log("  ".join(parts))
        self.last_print = time.monotonic()
        self.mark = (self.last_print, step)
