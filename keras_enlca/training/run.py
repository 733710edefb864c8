"""One resumable training run in a folder: the engine of `enlca train`.

`run_training(config, run_dir)` builds the data, the network (from its
preset), the optimizer, the distribution strategy and the callbacks from a
`TrainConfig`, trains, and writes into `run_dir`:

```
run_dir/
  config.yaml          the resolved config (defaults + file + overrides)
  checkpoints/         step-XXXXXXXXX/ resumable checkpoints (RunCheckpoint)
  logs/                TensorBoard logs per epoch: train/ (loss, l1,
                       contrastive, learning_rate), validation/ (psnr, ssim)
  history.json, .csv   one row per epoch: step, losses, learning rate,
                       validation PSNR/SSIM, time
  model.keras          the final network (float32, no optimizer state)
```

Calling it again on the same folder resumes from the newest checkpoint
(written every `runtime.checkpoint_every` steps, at every epoch end and on
SIGINT/SIGTERM) and finishes with exactly `config.total_steps` optimizer
steps; a finished run reports that it is complete, or continues if the run
was lengthened (`schedule.epochs` raised).
"""

import contextlib
import csv
import dataclasses
import inspect
import json
import math
import os
import signal
import threading
import time

from keras_enlca.errors import InputError
from keras_enlca.training.config import diff_configs
from keras_enlca.training.config import dump_config
from keras_enlca.training.config import read_config_file
from keras_enlca.training.config import resolve_preset
from keras_enlca.training.run_checkpoint import RunCheckpoint
from keras_enlca.training.data_checks import check_training_data
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.atomic import remove_stale_temporaries
from keras_enlca.utils.outputs import check_writable

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
MODEL_FILE = "model.keras"
LOCK_FILE = ".lock"

# Keys that cannot change between invocations on one run folder: the
# checkpoint would not fit the network (or the loss-scaling optimizer), or
# finished steps would map to other epochs.
FIXED_KEYS = ("model", "scale", "schedule.steps_per_epoch", "runtime.mixed_precision")


@dataclasses.dataclass
class RunResult:
    """What `run_training` did.

    Args:
        status: `"complete"` (all steps done, `model_path` written),
            `"time limit"` or `"interrupted"` (stopped cleanly with a
            checkpoint; calling again continues).
        step: finished optimizer steps.
        total_steps: the planned number of steps.
        run_dir: the run folder.
        model_path: the final `.keras` file when complete, else None.
        history: the per-epoch rows (dicts) written to `history.json`.
        resumed_from: the step the call started from (0 for a new run).
        already_complete: True if nothing was left to do.
        stop_reason: why an unfinished run stopped ("time limit", "SIGINT",
            "SIGTERM"), else None.
    """

    status: str
    step: int
    total_steps: int
    run_dir: str
    model_path: str = None
    history: list = dataclasses.field(default_factory=list)
    resumed_from: int = 0
    already_complete: bool = False
    stop_reason: str = None


def run_paths(run_dir):
    """The files and folders of a run folder, by name."""
    run_dir = os.fspath(run_dir)
    return {
        "config": os.path.join(run_dir, CONFIG_FILE),
        "checkpoints": os.path.join(run_dir, CHECKPOINT_DIR),
        "logs": os.path.join(run_dir, LOG_DIR),
        "history_json": os.path.join(run_dir, HISTORY_JSON),
        "history_csv": os.path.join(run_dir, HISTORY_CSV),
        "model": os.path.join(run_dir, MODEL_FILE),
    }


def epoch_segments(step, total_steps, steps_per_epoch):
    """Split the remaining steps into `fit` calls.

    Yields `(initial_epoch, epochs, steps_per_epoch)` triples: first the
    rest of a partly finished epoch, then the whole epochs, then a short
    last epoch when `total_steps` is not a multiple of `steps_per_epoch`.
    """
    while step < total_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        if offset or total_steps - step < steps_per_epoch:
            count = min(steps_per_epoch - offset, total_steps - step)
            yield epoch, epoch + 1, count
            step += count
        else:
            full = (total_steps - step) // steps_per_epoch
            yield epoch, epoch + full, steps_per_epoch
            step += full * steps_per_epoch


@contextlib.contextmanager
def _run_lock(run_dir):
    """Refuse two live runs in one folder (the lock dies with the process)."""
    import fcntl

    path = os.path.join(run_dir, LOCK_FILE)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(
                f"run folder '{run_dir}' is in use by another training process"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_previous_config(config, paths, has_checkpoint, log):
    """Compare with the config of an earlier invocation on the same folder."""
    if not os.path.isfile(paths["config"]):
        return
    try:
        previous = read_config_file(paths["config"])
    except InputError:
        previous = None
    if previous is None:
        return
    changed = diff_configs(previous, config.to_dict())
    fixed = [
        key for key in changed
        if any(key == f or key.startswith(f + ".") for f in FIXED_KEYS)
    ]
    if fixed and has_checkpoint:
        raise InputError(
            f"run folder '{os.path.dirname(paths['config'])}' holds a run with a "
            f"different {', '.join(fixed)}: choose another --out or delete the folder"
        )
    if changed and has_checkpoint:
        log(f"Config changed since the last invocation: {', '.join(changed)}")


def model_arguments(config, name):
    """Constructor overrides for preset `name`: `model.args` + contrastive form."""
    from keras_enlca.models.presets import preset_config
    from keras_enlca.training.config import check_model_args

    cls, _ = preset_config(name)
    parameters = inspect.signature(cls.__init__).parameters
    args = dict(config.model.args)
    check_model_args(name, args)
    if "contrastive" in parameters and "contrastive" not in args:
        if config.contrastive.weight == 0:
            # Nothing would use the loss: do not compute it.
            args["contrastive"] = None
        elif config.contrastive.form is not None:
            args["contrastive"] = config.contrastive.form
    return args


def build_model(config, name, dtype=None):
    """The network of `config` (preset `name` plus overrides)."""
    from keras_enlca.models.presets import from_preset

    args = model_arguments(config, name)
    if dtype is not None:
        args["dtype"] = dtype
    try:
        return from_preset(name, **args)
    except (TypeError, ValueError) as error:
        raise InputError(f"'model.args' {args}: {error}") from None


def learning_rate_schedule(config):
    """The `StepDecay` schedule of `config.schedule` (a function of the step)."""
    from keras_enlca.training.step_decay import StepDecay

    s = config.schedule
    return StepDecay(
        s.learning_rate,
        milestones=s.decay_milestones,
        steps_per_epoch=s.steps_per_epoch,
        gamma=s.decay_factor,
    )


def build_optimizer(config):
    """Adam with the step-decayed learning rate of `config.schedule`."""
    from keras_enlca.models.sr_model import reference_adam

    s = config.schedule
    return reference_adam(
        learning_rate_schedule(config), beta_1=s.beta_1, beta_2=s.beta_2, epsilon=s.epsilon
    )


def open_source(source, scale, split, key):
    """The `SRDataset`(s) of a `DataSourceConfig` (`split`: train or valid)."""
    from keras_enlca.data.datasets import SRDataset
    from keras_enlca.data.datasets import open_datasets

    if not source.dir:
        raise InputError(f"'{key}.dir' is not set")
    if not os.path.isdir(source.dir):
        raise InputError(f"'{key}.dir': folder '{source.dir}' does not exist")
    kind = source.type
    if kind == "auto" and source.lr_dir:
        kind = "paired"
    if kind == "paired":
        if not os.path.isdir(source.lr_dir):
            raise InputError(f"'{key}.lr_dir': folder '{source.lr_dir}' does not exist")
        return [SRDataset.from_paired_folders(source.lr_dir, source.dir, scale)]
    if kind == "folder":
        return [SRDataset.from_hr_folder(source.dir, scale)]
    if kind == "div2k":
        root = source.dir
        nested = os.path.join(root, "DIV2K")
        if not os.path.isdir(os.path.join(root, "DIV2K_train_HR")) and os.path.isdir(nested):
            root = nested
        return [SRDataset.from_div2k(root, scale, split=split, data_range=source.range)]
    return open_datasets(source.dir, scale, split=split, data_range=source.range)


def build_training_data(datasets, config, scale, seed):
    """The infinite `tf.data` pipeline of `(lr, hr)` training batches."""
    from keras_enlca.data import training_dataset

    return training_dataset(
        datasets,
        scale=scale,
        patch_size=config.data.patch_size,
        batch_size=config.data.batch_size,
        augment=config.data.augment,
        seed=seed,
    )


def _python_number(value, digits=None):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    if digits is not None and value != 0:
        # float32 values as short decimals: 2e-4, not 0.00019999999494757503.
        value = float(f"{value:.{digits}g}")
    return value


def _write_history(rows, paths):
    with atomic_path(paths["history_json"]) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_path(paths["history_csv"]) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def _remove_debris(checkpoint, paths):
    """Remove the temporaries a killed run left (only our own names)."""
    checkpoint.remove_temporaries()
    for key in ("model", "history_json", "history_csv", "config"):
        remove_stale_temporaries(paths[key], min_age_s=0)


def _cut_history(checkpoint, step, paths):
    """Rewrite the history files with the rows up to the resumed `step`.

    An epoch row is written before its checkpoint: a run stopped between
    the two (killed, disk full) must not list a step no checkpoint holds.
    """
    rows = [r for r in checkpoint.state.get("history", []) if r["step"] <= step]
    checkpoint.state["history"] = rows
    if rows or os.path.exists(paths["history_json"]):
        _write_history(rows, paths)


def _make_callbacks(config, model, checkpoint, paths, scale, validation_sets, log):
    import keras

    total = config.total_steps
    spe = config.schedule.steps_per_epoch
    schedule = learning_rate_schedule(config)

    def last_learning_rate():
        """The rate of the last step taken (the optimizer's is the next one's)."""
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        rate = schedule(max(iterations - 1, 0))
        return _python_number(keras.ops.convert_to_numpy(rate), digits=7)

    def epoch_complete():
        return checkpoint.step % spe == 0 or checkpoint.step >= total

    class Validation(keras.callbacks.Callback):
        """Scores the validation images at chosen epoch ends."""

        def __init__(self, images):
            super().__init__()
            self.images = images

        def on_epoch_end(self, epoch, logs=None):
            if logs is None or not epoch_complete():
                return
            last = checkpoint.step >= total
            if (epoch + 1) % config.runtime.validate_every and not last:
                return
            logs.update(validate_model(self.model, self.images, scale))

    class Logger(keras.callbacks.Callback):
        """Prints progress, keeps the per-epoch history in the checkpoint."""

        def __init__(self):
            super().__init__()
            self.last_print = time.monotonic()
            self.mark = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.monotonic()
            self.epoch_first_step = checkpoint.step

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and _python_number(loss) is None:
                # Raised before RunCheckpoint sees this step: the diverged
                # weights are never saved.
                kept = (
                    f"the checkpoint of step {checkpoint.saved_step} is kept"
                    if checkpoint.saved_step else "no checkpoint was written"
                )
                raise InputError(
                    f"training diverged: the loss is {float(loss)} at step "
                    f"{checkpoint.step + 1} (try a lower 'schedule.learning_rate'); {kept}"
                )
            now = time.monotonic()
            # This callback runs before RunCheckpoint has counted the step.
            step = checkpoint.step + 1
            if self.mark is None:
                # The first step (graph tracing) does not count in the rate.
                self.mark = (now, step)
            elif now - self.last_print >= 30 and step - self.mark[1] >= 2 and logs:
                rate = (step - self.mark[1]) / max(now - self.mark[0], 1e-9)
                self.last_print, self.mark = now, (now, step)
                loss = _python_number(logs.get("loss"))
                log(f"  step {step}/{total}  loss {loss:.5f}  {rate:.2f} steps/s")

        def on_epoch_end(self, epoch, logs=None):
            if not epoch_complete():
                return
            seconds = time.monotonic() - self.epoch_start
            row = {"epoch": epoch + 1, "step": checkpoint.step}
            for key, value in (logs or {}).items():
                number = _python_number(value, digits=7)
                if number is not None:
                    row[key] = number
            row["learning_rate"] = last_learning_rate()
            if logs is not None:
                logs["learning_rate"] = row["learning_rate"]  # for TensorBoard
            row["steps"] = checkpoint.step - self.epoch_first_step
            row["seconds"] = round(seconds, 3)
            history = checkpoint.state.setdefault("history", [])
            history.append(row)
            parts = [f"epoch {epoch + 1}/{config.num_epochs}", f"step {checkpoint.step}/{total}"]
            for key in ("loss", "l1", "contrastive", "val_psnr", "val_ssim"):
                if key in row:
                    digits = 3 if key.startswith("val_") else 5
                    parts.append(f"{key} {row[key]:.{digits}f}")
            parts.append(f"lr {row['learning_rate']:.3g}")
            parts.append(f"{seconds:.1f} s")
            log("  ".join(parts))
            self.last_print = time.monotonic()
            self.mark = (self.last_print, checkpoint.step)

    callbacks = []
    callbacks += _attention_callbacks(config, model)
    if validation_sets:
        callbacks.append(Validation(validation_sets))
    class HistoryFiles(keras.callbacks.Callback):
        """Writes history.json/.csv after RunCheckpoint saved the epoch, so
        that they never list a step no checkpoint holds."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch_complete():
                _write_history(checkpoint.state.get("history", []), paths)

    callbacks += [
        Logger(),
        checkpoint,
        HistoryFiles(),
        keras.callbacks.TensorBoard(
            log_dir=paths["logs"], write_graph=False, profile_batch=0
        ),
    ]
    return callbacks


def _attention_callbacks(config, model):
    """Projection redraws for networks with ENLCA layers."""
    from keras_enlca.training.projection_redraw import ProjectionRedraw
    from keras_enlca.models.sr_model import enlca_layers

    interval = config.schedule.projection_redraw_interval
    if not interval or not enlca_layers(model):
        return []
    return [ProjectionRedraw(every_n_steps=interval, seed=config.runtime.seed)]


def _validation_sets(config, scale):
    """The validation `SRDataset`s (at most `data.validation_images` images)."""
    from keras_enlca.data.datasets import SRDataset

    source = config.data.validation
    if source is None:
        return None
    datasets = open_source(source, scale, "valid", "data.validation")
    limit = config.data.validation_images
    if limit is not None:
        kept = []
        for dataset in datasets:
            if limit <= 0:
                break
            n = min(limit, len(dataset))
            kept.append(SRDataset(
                dataset.name, scale, dataset.hr_paths[:n],
                None if dataset.lr_paths is None else dataset.lr_paths[:n],
            ))
            limit -= n
        datasets = kept
    return datasets


def validate_model(model, datasets, scale):
    """Y-PSNR/SSIM (MATLAB conventions, `scale` pixels shaved) on `datasets`.

    Returns `{"val_psnr": ..., "val_ssim": ...}`, the means over the images
    of all datasets.
    """
    from keras_enlca.evaluation import evaluate

    report = evaluate(model, datasets, scale=scale, bicubic_baseline=False)
    images = [image for d in report.datasets for image in d["images"]]
    return {
        "val_psnr": float(sum(i["psnr"] for i in images) / len(images)),
        "val_ssim": float(sum(i["ssim"] for i in images) / len(images)),
    }


def save_final_model(model, config, name, path):
    """Save a float32, optimizer-free copy of `model` to `path` atomically."""
    final = build_model(config, name, dtype="float32")
    final.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        final.save(tmp)
    return path


def load_run_model(run_dir):
    """The network of a run folder with the weights of its newest checkpoint.

    Works on finished and unfinished runs alike (e.g. one stopped by its
    time limit): the config comes from `run_dir/config.yaml`, the weights
    from the newest `checkpoints/step-*`. The model is float32 and
    uncompiled, like `model.keras`.

    Returns:
        `(model, step)`: the model and the checkpoint's step.

    Example:

    ```python
    model, step = load_run_model("runs/enlcn_x4")
    model.save("enlcn_x4_step%d.keras" % step)
    ```
    """
    from keras_enlca.models.presets import list_presets
    from keras_enlca.training.config import load_config

    paths = run_paths(run_dir)
    if not os.path.isfile(paths["config"]):
        raise InputError(f"'{run_dir}' is not a training run folder (no {CONFIG_FILE})")
    config = load_config(paths["config"])
    name, _ = resolve_preset(config, list_presets())
    checkpoint = RunCheckpoint(paths["checkpoints"])
    if not checkpoint.checkpoints():
        raise InputError(f"the run in '{run_dir}' has no checkpoint yet")
    import warnings

    step, folder = checkpoint.checkpoints()[-1]
    model = build_model(config, name, dtype="float32")
    with warnings.catch_warnings():
        # The checkpoint also holds the optimizer state, not needed here.
        warnings.simplefilter("ignore")
        model.load_weights(os.path.join(folder, "model.weights.h5"))
    return model, step


@contextlib.contextmanager
def _stop_on_signals(checkpoint, log):
    """SIGINT/SIGTERM: save a checkpoint and stop after the current step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        if checkpoint._stop_requested is not None:
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        log(f"{name}: saving a checkpoint and stopping after this step "
            "(send it again to abort at once)")
        checkpoint.request_stop(name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_training(config, run_dir, log=print):
    """Train (or resume) the run of `config` in `run_dir`.

    Args:
        config: a `TrainConfig` (see `keras_enlca.training.config`).
        run_dir: the run folder, created if needed. An earlier run there is
            resumed from its newest checkpoint.
        log: a callable taking one line of progress text.

    Returns:
        A `RunResult`.

    Example:

    ```python
    config = load_config("configs/enlcn_small_cpu.yaml",
                         overrides=["schedule.epochs=2"])
    result = run_training(config, "runs/small")
    result.model_path  # runs/small/model.keras
    ```
    """
    import keras

    from keras_enlca.models.presets import list_presets
    from keras_enlca.training.distributed_trainer import DistributedTrainer
    from keras_enlca.training.multi_worker import sync_from_chief
    from keras_enlca.training.multi_worker import worker_run_dir
    from keras_enlca.training.strategy import check_jit_compile
    from keras_enlca.training.strategy import get_strategy
    from keras_enlca.training.strategy import is_multi_worker

    run_dir = os.fspath(run_dir)
    # Multi-worker hook: the strategy exists before any TensorFlow op, and
    # workers other than the chief write into a scratch folder of their own.
    strategy = get_strategy(config.runtime.strategy)
    run_dir = worker_run_dir(strategy, run_dir)
    paths = run_paths(run_dir)
    name, scale = resolve_preset(config, list_presets())
    total = config.total_steps
    spe = config.schedule.steps_per_epoch
    checkpoint = RunCheckpoint(
        paths["checkpoints"],
        every_n_steps=config.runtime.checkpoint_every,
        keep=config.runtime.keep_checkpoints,
        time_limit=(
            config.runtime.time_limit_minutes * 60
            if config.runtime.time_limit_minutes is not None
            else None
        ),
        warn=log,
    )

    def is_complete(state):
        return state is not None and state["step"] >= total and os.path.isfile(paths["model"])

    train_sets = validation_sets = None
    state = checkpoint.latest_state()
    if state is None or state["step"] < total:
        # Data and output problems surface before anything is written.
        train_sets = open_source(config.data.train, scale, "train", "data.train")
        check_training_data(train_sets, config, scale, name)
        validation_sets = _validation_sets(config, scale)
        check_writable(paths["config"])
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create run folder '{run_dir}': {error.strerror}") from None

    with _run_lock(run_dir):
        _remove_debris(checkpoint, paths)
        latest = checkpoint.latest_state()
        _check_previous_config(config, paths, latest is not None, log)
        done = latest["step"] if latest else 0
        if is_complete(latest):
            log(
                f"Run in {run_dir} is complete: {done} of {total} steps done, "
                f"model in {paths['model']}. Raise schedule.epochs to train longer."
            )
            history = latest.get("state", {}).get("history", [])
            return RunResult("complete", done, total, run_dir, paths["model"],
                             history, resumed_from=done, already_complete=True)
        dump_config(config, paths["config"])

        previous_policy = keras.mixed_precision.global_policy()
        keras.utils.set_random_seed(config.runtime.seed)
        if config.runtime.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            check_jit_compile(strategy, config.runtime.jit_compile)
            with strategy.scope():
                model = build_model(config, name)
                model.compile(
                    optimizer=build_optimizer(config),
                    contrastive_weight=config.contrastive.weight,
                    contrastive_warmup_steps=config.contrastive_warmup_steps,
                    jit_compile=config.runtime.jit_compile,
                )
                model.build((None, None, None, 3))
                try:
                    start = checkpoint.restore(model)
                except (OSError, ValueError) as error:
                    raise InputError(f"cannot resume the run in '{run_dir}': {error}") from None
                start = sync_from_chief(strategy, model, checkpoint, start)
            _cut_history(checkpoint, start, paths)
            if start:
                log(f"Resuming {run_dir} at step {start} of {total} "
                    f"(epoch {start // spe + 1}).")
            else:
                log(f"Training {name} (x{scale}) for {total} steps "
                    f"({config.num_epochs} epochs of {spe}) in {run_dir} "
                    f"on {strategy.num_replicas_in_sync} replica(s).")
            if start < total:
                # A different data seed after a resume: the interrupted run's
                # patches are not replayed.
                keras.utils.set_random_seed(config.runtime.seed + start)
                if train_sets is None:  # the folder changed since the check above
                    train_sets = open_source(config.data.train, scale, "train", "data.train")
                    validation_sets = _validation_sets(config, scale)
                dataset = build_training_data(
                    train_sets, config, scale, seed=config.runtime.seed + start
                )
                callbacks = _make_callbacks(
                    config, model, checkpoint, paths, scale, validation_sets, log
                )
                # Keras `fit` fails under MultiWorkerMirroredStrategy (keras
                # issue 20585): the same train_step through DistributedTrainer.
                fit = model.fit
                if is_multi_worker(strategy):
                    fit = DistributedTrainer(model, strategy).fit
                with _stop_on_signals(checkpoint, log):
                    for first, last, steps in epoch_segments(start, total, spe):
                        fit(
                            dataset,
                            initial_epoch=first,
                            epochs=last,
                            steps_per_epoch=steps,
                            callbacks=callbacks,
                            verbose=0,
                            shuffle=False,
                        )
                        if checkpoint.stop_reason is not None:
                            break
            history = checkpoint.state.get("history", [])
            if checkpoint.stop_reason is not None and checkpoint.step < total:
                status = "time limit" if checkpoint.stop_reason == "time limit" else "interrupted"
                log(f"Stopped ({checkpoint.stop_reason}) at step {checkpoint.step} of "
                    f"{total}; run the same command again to continue.")
                return RunResult(status, checkpoint.step, total, run_dir, None,
                                 history, resumed_from=start,
                                 stop_reason=checkpoint.stop_reason)
            save_final_model(model, config, name, paths["model"])
            log(f"Done: {checkpoint.step} steps. Model: {paths['model']}")
            return RunResult("complete", checkpoint.step, total, run_dir, paths["model"],
                             history, resumed_from=start, already_complete=start >= total)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
