import json
import os
import re
import shutil
import time

import keras

from keras_enlca.utils.atomic import atomic_path

_NAME = re.compile(r"^step-(\d{9})$")
WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"


class RunCheckpoint(keras.callbacks.Callback):
    """Step-exact checkpoints that survive `kill -9`, and clean stops.

    Counts finished training steps and saves the model weights, the
    optimizer state (moments and `iterations`) and a JSON `state` dict every
    `every_n_steps` steps, at every epoch end and whenever a stop is
    requested. Each checkpoint is a folder `step-XXXXXXXXX/` written under
    a temporary name and renamed, so the newest complete folder is always a
    consistent snapshot; the `keep` newest are kept.

    `restore()` loads the newest checkpoint into a compiled model and
    returns its step; a driver then resumes with
    `fit(initial_epoch=step // steps_per_epoch, ...)` for the rest of that
    epoch (see `keras_enlca.training.run`). Unlike
    `keras.callbacks.BackupAndRestore`, which restarts an interrupted epoch
    from its first batch (re-running finished steps) and writes its backup
    in place, the resumed run finishes with exactly the planned number of
    optimizer steps.

    Training stops cleanly (checkpoint, then `model.stop_training`) after
    `time_limit` seconds or when `request_stop()` is called, e.g. from a
    SIGTERM handler; `stop_reason` then says why.

    Args:
        directory: the folder holding the `step-*` checkpoint folders.
        every_n_steps: int. Save every this many finished steps.
        keep: int. How many checkpoints to keep (>= 1).
        time_limit: float or None. Seconds after `on_train_begin` of the
            first `fit` after which to stop.
        state: dict or None. Extra JSON-serialisable data saved with every
            checkpoint (the driver keeps its history there); `restore()`
            refills it.

    Example:

    ```python
    checkpoint = RunCheckpoint("run/checkpoints", every_n_steps=100)
    step = checkpoint.restore(model)  # 0 for a new run
    epoch, offset = divmod(step, 1000)
    model.fit(data, initial_epoch=epoch, epochs=epoch + 1,
              steps_per_epoch=1000 - offset, callbacks=[checkpoint])
    ```
    """

    def __init__(self, directory, every_n_steps=1000, keep=2, time_limit=None, state=None):
        super().__init__()
        if every_n_steps < 1 or keep < 1:
            raise ValueError(
                f"`every_n_steps` and `keep` must be >= 1. Received: "
                f"every_n_steps={every_n_steps}, keep={keep}"
            )
        self.directory = os.fspath(directory)
        self.every_n_steps = int(every_n_steps)
        self.keep = int(keep)
        self.time_limit = time_limit
        self.state = state if state is not None else {}
        self.step = 0
        self.saved_step = None
        self.stop_reason = None
        self._stop_requested = None
        self._started = None
        self._last_batch = -1

    # -- finding and loading ------------------------------------------------

    def checkpoints(self):
        """`(step, folder)` of the complete checkpoints, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            folder = os.path.join(self.directory, name)
            if match and os.path.isfile(os.path.join(folder, STATE_FILE)):
                found.append((int(match.group(1)), folder))
        return sorted(found)

    def latest_state(self):
        """The `state.json` content of the newest checkpoint, or None.

        Reads no weights, so it is cheap: a driver uses it to tell a
        finished run without building the model.
        """
        found = self.checkpoints()
        if not found:
            return None
        with open(os.path.join(found[-1][1], STATE_FILE), encoding="utf-8") as f:
            return json.load(f)

    def restore(self, model):
        """Load the newest checkpoint into `model`; return its step (0 if none).

        `model` must be built and compiled (its optimizer is built here if
        needed, so that the optimizer state is restored too).
        """
        found = self.checkpoints()
        if not found:
            self.step = 0
            return 0
        errors = []
        for step, folder in reversed(found):
            try:
                if model.optimizer is not None and not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                model.load_weights(os.path.join(folder, WEIGHTS_FILE))
                with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as f:
                    saved = json.load(f)
            except (OSError, KeyError) as error:
                # Only a damaged disk gets here (folders appear atomically);
                # fall back to the previous checkpoint.
                errors.append(f"{folder}: {error}")
                continue
            expected = saved.get("optimizer_iterations")
            if model.optimizer is not None and expected is not None:
                loaded = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
                if loaded != expected:
                    # Keras skips (with a warning) an optimizer whose
                    # variables do not match: resuming would restart the
                    # learning-rate schedule and the warm-up.
                    raise ValueError(
                        f"the optimizer state in {folder} does not fit this model's "
                        f"optimizer (it has {expected} iterations, {loaded} were loaded)"
                    )
            self.step = int(saved["step"])
            self.saved_step = self.step
            self.state.clear()
            self.state.update(saved.get("state", {}))
            return self.step
        raise OSError("no checkpoint could be loaded: " + "; ".join(errors))

    # -- saving ---------------------------------------------------------------

    def save(self):
        """Write a checkpoint of the current step (no-op if already saved)."""
        if self.saved_step == self.step:
            return
        os.makedirs(self.directory, exist_ok=True)
        target = os.path.join(self.directory, f"step-{self.step:09d}")
        optimizer = self.model.optimizer
        saved = {
            "step": self.step,
            "optimizer_iterations": (
                int(keras.ops.convert_to_numpy(optimizer.iterations))
                if optimizer is not None
                else None
            ),
            "time": time.time(),
            "state": self.state,
        }
        with atomic_path(target, is_dir=True) as tmp:
            os.makedirs(tmp)
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
            with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump(saved, f, indent=1)
        self.saved_step = self.step
        for _, folder in self.checkpoints()[: -self.keep]:
            shutil.rmtree(folder, ignore_errors=True)

    # -- stopping -------------------------------------------------------------

    def request_stop(self, reason="stop requested"):
        """Ask training to save and stop after the current step."""
        self._stop_requested = reason

    # -- callback hooks -------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._started is None:
            self._started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._last_batch = -1

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index of the last step run; with
        # `steps_per_execution > 1` one call covers several steps.
        self.step += batch - self._last_batch
        self._last_batch = batch
        # The last step of an epoch is saved by `on_epoch_end`, after the
        # other callbacks have added the epoch's results to `state`.
        steps = (self.params or {}).get("steps")
        last_of_epoch = steps is not None and batch + 1 >= steps
        if self.step % self.every_n_steps == 0 and not last_of_epoch:
            self.save()
        reason = self._stop_requested
        if (
            reason is None
            and self.time_limit is not None
            and time.monotonic() - self._started >= self.time_limit
        ):
            reason = "time limit"
        if reason is not None:
            self.stop_reason = reason
            if not last_of_epoch:
                self.save()
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.save()
