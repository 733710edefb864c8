import contextlib
import errno
import gc
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings

import keras

from keras_enlca.errors import write_error

_NAME = re.compile(r"^step-(\d{9})$")
# What an interrupted `save()` leaves: `.step-XXXXXXXXX.<random>.tmp/`
# (this module's own temporaries, and `atomic_path`'s before them).
_TEMPORARY = re.compile(r"^\.step-\d{9}\.[A-Za-z0-9_]+\.tmp$")
WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
# Free space wanted beyond the weights' own bytes (HDF5 headers, JSON).
_SAVE_MARGIN_BYTES = 64 * 1024


def _print_warning(line):
    print(line, file=sys.stderr)


def _itemsize(dtype):
    import numpy as np

    return np.dtype(keras.backend.standardize_dtype(dtype)).itemsize


class InvalidCheckpoint(Exception):
    """A checkpoint folder that is incomplete or damaged (the reason)."""


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path):
    with contextlib.suppress(OSError):  # not every OS opens folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def validate_checkpoint(folder):
    """Raise `InvalidCheckpoint` unless `folder` is complete and intact.

    A checkpoint holds `manifest.json` (written last) listing every other
    file with its size and sha256. Folders from before manifests existed
    (no manifest, `state.json` present) are checked by parsing `state.json`
    only.

    Returns the parsed `state.json`.
    """
    manifest_path = os.path.join(folder, MANIFEST_FILE)
    state_path = os.path.join(folder, STATE_FILE)
    if os.path.exists(manifest_path):
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
            files = manifest["files"]
            items = list(files.items())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidCheckpoint(f"{MANIFEST_FILE} is damaged") from None
        if not items:
            raise InvalidCheckpoint(f"{MANIFEST_FILE} lists no files")
        for name, entry in items:
            path = os.path.join(folder, name)
            try:
                size = os.path.getsize(path)
                if size != entry["size"]:
                    raise InvalidCheckpoint(
                        f"{name} has {size} bytes, {entry['size']} expected"
                    )
                if _sha256(path) != entry["sha256"]:
                    raise InvalidCheckpoint(f"{name} does not match its checksum")
            except OSError:
                raise InvalidCheckpoint(f"{name} is missing") from None
            except (KeyError, TypeError):
                raise InvalidCheckpoint(f"{MANIFEST_FILE} is damaged") from None
    elif not os.path.isfile(os.path.join(folder, WEIGHTS_FILE)):
        raise InvalidCheckpoint(f"{WEIGHTS_FILE} is missing")
    try:
        with open(state_path, encoding="utf-8") as f:
            saved = json.load(f)
        int(saved["step"])
    except OSError:
        raise InvalidCheckpoint(f"{STATE_FILE} is missing") from None
    except (ValueError, KeyError, TypeError):
        raise InvalidCheckpoint(f"{STATE_FILE} is damaged") from None
    if saved.get("format") and not os.path.exists(manifest_path):
        raise InvalidCheckpoint(f"{MANIFEST_FILE} is missing")
    return saved


@contextlib.contextmanager
def _quiet_unraisable():
    """Silence errors raised while freeing objects (h5py's failed closes)."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = previous


class RunCheckpoint(keras.callbacks.Callback):
    """Step-exact checkpoints that survive `kill -9`, and clean stops.

    Counts finished training steps and saves the model weights, the
    optimizer state (moments and `iterations`) and a JSON `state` dict every
    `every_n_steps` steps, at every epoch end and whenever a stop is
    requested. Each checkpoint is a folder `step-XXXXXXXXX/` written as a
    transaction (temporary folder, fsync, `manifest.json` with sizes and
    sha256 written last, rename); on resume a damaged newest checkpoint is
    skipped with a warning. The `keep` newest are kept.

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
        warn: callable or None. Takes the one-line warning for each damaged
            checkpoint skipped (default: print to stderr).

    Example:

    ```python
    checkpoint = RunCheckpoint("run/checkpoints", every_n_steps=100)
    step = checkpoint.restore(model)  # 0 for a new run
    epoch, offset = divmod(step, 1000)
    model.fit(
        data,
        initial_epoch=epoch,
        epochs=epoch + 1,
        steps_per_epoch=1000 - offset,
        callbacks=[checkpoint],
    )
    ```
    """

    def __init__(
        self,
        directory,
        every_n_steps=1000,
        keep=2,
        time_limit=None,
        state=None,
        warn=None,
    ):
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
        self.warn = warn if warn is not None else _print_warning
        self._warned = set()

    # -- finding and loading ------------------------------------------------

    def checkpoints(self):
        """`(step, folder)` of the checkpoint folders, oldest first.

        Lists every `step-*` folder; `valid_checkpoints()` checks them.
        """
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            folder = os.path.join(self.directory, name)
            if match and os.path.isdir(folder):
                found.append((int(match.group(1)), folder))
        return sorted(found)

    def _skip(self, folder, reason):
        if folder not in self._warned:
            self._warned.add(folder)
            self.warn(f"Warning: skipping damaged checkpoint '{folder}' ({reason})")

    def valid_checkpoints(self):
        """`(step, folder, state)` of the intact checkpoints, newest first.

        A damaged one (see `validate_checkpoint`) is skipped with a one-line
        warning naming it.
        """
        for step, folder in reversed(self.checkpoints()):
            try:
                saved = validate_checkpoint(folder)
            except InvalidCheckpoint as error:
                self._skip(folder, error)
                continue
            yield step, folder, saved

    def latest_state(self):
        """The `state.json` content of the newest intact checkpoint, or None.

        Reads no weights, so it is cheap: a driver uses it to tell a
        finished run without building the model.
        """
        for _, _, saved in self.valid_checkpoints():
            return saved
        return None

    def remove_temporaries(self):
        """Remove what interrupted saves left (`.step-*.tmp/` folders).

        Call it only while no other process writes checkpoints here (the
        driver holds the run folder's lock). Returns the removed paths.
        """
        if not os.path.isdir(self.directory):
            return []
        removed = []
        for name in os.listdir(self.directory):
            if _TEMPORARY.match(name):
                path = os.path.join(self.directory, name)
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def restore(self, model):
        """Load the newest intact checkpoint into `model`; return its step.

        Returns 0 when there is none. Damaged newer checkpoints are skipped
        with a warning and removed (a resumed run writes their steps
        again). `model` must be built and compiled (its optimizer is built
        here if needed, so that the optimizer state is restored too).
        """
        found = self.checkpoints()
        if not found:
            self.step = 0
            return 0
        damaged = []
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        for _step, folder in reversed(found):
            try:
                saved = validate_checkpoint(folder)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    model.load_weights(os.path.join(folder, WEIGHTS_FILE))
                skipped = [
                    w for w in caught if "Skipping variable loading" in str(w.message)
                ]
                expected = saved.get("optimizer_iterations")
                if skipped and expected is None:
                    raise InvalidCheckpoint("its weights do not fit this model")
            except InvalidCheckpoint as error:
                self._skip(folder, error)
                damaged.append(folder)
                continue
            except (OSError, KeyError, ValueError) as error:
                # A checkpoint from before manifests, damaged on disk.
                reason = (
                    str(error).splitlines()[0] if str(error) else type(error).__name__
                )
                self._skip(folder, f"{WEIGHTS_FILE} cannot be read: {reason}")
                damaged.append(folder)
                continue
            if model.optimizer is not None and expected is not None:
                loaded = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
                if loaded != expected:
                    # Keras skips (with a warning) an optimizer whose
                    # variables do not match: resuming would restart the
                    # learning-rate schedule and the warm-up.
                    raise ValueError(
                        f"the optimizer state in {folder} does not fit this model's "
                        f"optimizer (it has {expected} iterations, {loaded} were "
                        "loaded)"
                    )
            for folder in damaged:
                shutil.rmtree(folder, ignore_errors=True)
            self.step = int(saved["step"])
            self.saved_step = self.step
            self.state.clear()
            self.state.update(saved.get("state", {}))
            return self.step
        raise OSError(
            "no checkpoint could be loaded (all are damaged: "
            + ", ".join(os.path.basename(f) for f in damaged)
            + "); delete the checkpoints folder to start again"
        )

    # -- saving ---------------------------------------------------------------

    def _needed_bytes(self):
        variables = list(self.model.weights)
        if self.model.optimizer is not None:
            variables += list(self.model.optimizer.variables)
        total = 0
        for variable in variables:
            count = 1
            for dim in variable.shape:
                count *= int(dim)
            total += count * _itemsize(variable.dtype)
        return int(total * 1.1) + _SAVE_MARGIN_BYTES

    def save(self):
        """Write a checkpoint of the current step (no-op if already saved).

        The checkpoint is a transaction: its files are written into a
        temporary folder and flushed to disk, `manifest.json` (names,
        sizes, sha256) is written last, then the folder is renamed into
        place. A failed write (full disk, read-only folder) removes the
        temporary folder, keeps the older checkpoints, and raises an
        `OutputError` naming the checkpoint.
        """
        if self.saved_step == self.step:
            return
        target = os.path.join(self.directory, f"step-{self.step:09d}")
        optimizer = self.model.optimizer
        saved = {
            "format": MANIFEST_FORMAT,
            "step": self.step,
            "optimizer_iterations": (
                int(keras.ops.convert_to_numpy(optimizer.iterations))
                if optimizer is not None
                else None
            ),
            "time": time.time(),
            "state": self.state,
        }
        try:
            os.makedirs(self.directory, exist_ok=True)
            free = shutil.disk_usage(self.directory).free
            if free < self._needed_bytes():
                # h5py fails badly on a full disk (and can crash later
                # while freeing the half-written file): do not start.
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._write(target, saved)
        except OSError as error:
            raise self._write_error(target, error) from None
        self.saved_step = self.step
        for _, folder in self.checkpoints()[: -self.keep]:
            shutil.rmtree(folder, ignore_errors=True)

    def _write(self, target, saved):
        tmp = tempfile.mkdtemp(
            prefix=f".step-{self.step:09d}.", suffix=".tmp", dir=self.directory
        )
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
            with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump(saved, f, indent=1)
            files = {}
            for name in (WEIGHTS_FILE, STATE_FILE):
                path = os.path.join(tmp, name)
                _fsync_file(path)
                files[name] = {"size": os.path.getsize(path), "sha256": _sha256(path)}
            manifest = {"format": MANIFEST_FORMAT, "step": self.step, "files": files}
            with open(os.path.join(tmp, MANIFEST_FILE), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(tmp)
            if os.path.isdir(target):
                # Only a damaged checkpoint of this step can be there.
                shutil.rmtree(target)
            os.replace(tmp, target)
            _fsync_dir(self.directory)
        except BaseException:
            with _quiet_unraisable():
                gc.collect()  # close h5py's half-written file quietly
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write_error(self, target, error):
        code = getattr(error, "errno", None)
        if not code and "errno = 28" in str(error):
            code = errno.ENOSPC
        reason = os.strerror(code) if code else str(error).splitlines()[0]
        kept = (
            f"the checkpoint of step {self.saved_step} is kept"
            if self.saved_step
            else "no checkpoint was written"
        )
        return write_error(
            target,
            OSError(
                code,
                f"{reason}; {kept}; free space and run the same command "
                "again to continue",
            ),
        )

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
