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

Each `fit` runs the callbacks `ProjectionRedraw` (ENLCA networks),
`ValidationCallback`, `TrainingLogger`, `RunCheckpoint`, `HistoryFiles` and
TensorBoard, in that order; the data comes from
`keras_enlca.data.open_data_source` and `training_dataset`.
"""

import contextlib
import dataclasses
import os
import signal
import threading

import keras

from keras_enlca.data.datasets import first_images
from keras_enlca.data.datasets import open_data_source
from keras_enlca.data.pipeline import training_dataset
from keras_enlca.errors import InputError
from keras_enlca.training.config import diff_configs
from keras_enlca.training.config import dump_config
from keras_enlca.training.config import model_arguments
from keras_enlca.training.config import read_run_config
from keras_enlca.training.config import resolve_preset
from keras_enlca.training.data_checks import check_training_data
from keras_enlca.training.history_files import HISTORY_KEY
from keras_enlca.training.history_files import HistoryFiles
from keras_enlca.training.multi_worker import sync_from_chief
from keras_enlca.training.multi_worker import worker_run_dir
from keras_enlca.training.run_checkpoint import RunCheckpoint
from keras_enlca.training.run_epochs import epoch_segments
from keras_enlca.training.run_folder import CONFIG_FILE
from keras_enlca.training.run_folder import LOCK_FILE
from keras_enlca.training.run_folder import run_paths
from keras_enlca.training.training_logger import TrainingLogger
from keras_enlca.training.validation_callback import ValidationCallback
from keras_enlca.utils.atomic import atomic_path
from keras_enlca.utils.atomic import remove_stale_temporaries
from keras_enlca.utils.outputs import check_writable

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
        previous = read_run_config(paths["config"])
    except InputError:
        previous = None
    if previous is None:
        return
    changed = diff_configs(previous, config.to_dict())
    fixed = [
        key
        for key in changed
        if any(key == f or key.startswith(f + ".") for f in FIXED_KEYS)
    ]
    if fixed and has_checkpoint:
        raise InputError(
            f"run folder '{os.path.dirname(paths['config'])}' holds a run with a "
            f"different {', '.join(fixed)}: choose another --out or delete the folder"
        )
    if changed and has_checkpoint:
        log(f"Config changed since the last invocation: {', '.join(changed)}")


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
        learning_rate_schedule(config),
        beta_1=s.beta_1,
        beta_2=s.beta_2,
        epsilon=s.epsilon,
    )


def _remove_debris(checkpoint, paths):
    """Remove the temporaries a killed run left (only our own names)."""
    checkpoint.remove_temporaries()
    for key in ("model", "history_json", "history_csv", "config"):
        remove_stale_temporaries(paths[key], min_age_s=0)


def _history_files(config, checkpoint, paths):
    return HistoryFiles(
        checkpoint,
        paths["history_json"],
        paths["history_csv"],
        steps_per_epoch=config.schedule.steps_per_epoch,
        total_steps=config.total_steps,
    )


def _make_callbacks(
    config, model, checkpoint, history_files, log_dir, scale, validation_sets, log
):
    """The callbacks of `fit`, in order: each reads what those before it wrote."""
    spe, total = config.schedule.steps_per_epoch, config.total_steps
    callbacks = _attention_callbacks(config, model)
    if validation_sets:
        callbacks.append(
            ValidationCallback(
                validation_sets,
                scale,
                every_n_epochs=config.runtime.validate_every,
                checkpoint=checkpoint,
                steps_per_epoch=spe,
                total_steps=total,
            )
        )
    callbacks += [
        TrainingLogger(checkpoint, spe, total, learning_rate_schedule(config), log=log),
        checkpoint,
        # After RunCheckpoint saved the epoch: the files never list a step
        # no checkpoint holds.
        history_files,
        keras.callbacks.TensorBoard(
            log_dir=log_dir, write_graph=False, profile_batch=0
        ),
    ]
    return callbacks


def _attention_callbacks(config, model):
    """Projection redraws for networks with ENLCA layers."""
    from keras_enlca.models.sr_model import enlca_layers
    from keras_enlca.training.projection_redraw import ProjectionRedraw

    interval = config.schedule.projection_redraw_interval
    if not interval or not enlca_layers(model):
        return []
    return [ProjectionRedraw(every_n_steps=interval, seed=config.runtime.seed)]


def _validation_sets(config, scale):
    """The validation `SRDataset`s (at most `data.validation_images` images)."""
    source = config.data.validation
    if source is None:
        return None
    datasets = open_data_source(source, scale, "valid", "data.validation")
    return first_images(datasets, config.data.validation_images)


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
    from keras_enlca.training.config import config_from_dict

    paths = run_paths(run_dir)
    if not os.path.isfile(paths["config"]):
        raise InputError(f"'{run_dir}' is not a training run folder (no {CONFIG_FILE})")
    config = config_from_dict(read_run_config(paths["config"]), source=paths["config"])
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
        log(
            f"{name}: saving a checkpoint and stopping after this step "
            "(send it again to abort at once)"
        )
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
    config = load_config(
        "configs/enlcn_small_cpu.yaml", overrides=["schedule.epochs=2"]
    )
    result = run_training(config, "runs/small")
    result.model_path  # runs/small/model.keras
    ```
    """
    run = _plan_run(config, os.fspath(run_dir), log)
    train_sets, validation_sets = _check_inputs(run)
    _make_run_dir(run.run_dir)
    with _run_lock(run.run_dir):
        _remove_debris(run.checkpoint, run.paths)
        latest = run.checkpoint.latest_state()
        _check_previous_config(config, run.paths, latest is not None, log)
        if _is_complete(run, latest):
            return _complete_result(run, latest)
        dump_config(config, run.paths["config"])
        previous_policy = keras.mixed_precision.global_policy()
        keras.utils.set_random_seed(config.runtime.seed)
        if config.runtime.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            model, start = _build_and_restore(run)
            history_files = _history_files(config, run.checkpoint, run.paths)
            history_files.cut_back(start)
            _announce(run, start)
            if start < run.total:
                _fit(run, model, start, history_files, train_sets, validation_sets)
            return _finish(run, model, start, history_files.rows)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)


@dataclasses.dataclass
class _Run:
    """What every step of `run_training` shares: the config, the strategy,
    the folder's paths, the preset (resolved once) and the checkpoint."""

    config: object
    run_dir: str
    log: object
    strategy: object
    paths: dict
    name: str
    scale: int
    checkpoint: RunCheckpoint

    @property
    def total(self):
        return self.config.total_steps

    @property
    def spe(self):
        return self.config.schedule.steps_per_epoch


def _plan_run(config, run_dir, log):
    """The strategy, run folder paths, resolved preset and checkpoint."""
    from keras_enlca.models.presets import list_presets
    from keras_enlca.training.strategy import get_strategy

    # Multi-worker hook: the strategy exists before any TensorFlow op, and
    # workers other than the chief write into a scratch folder of their own.
    strategy = get_strategy(config.runtime.strategy)
    run_dir = worker_run_dir(strategy, run_dir)
    paths = run_paths(run_dir)
    name, scale = resolve_preset(config, list_presets())
    minutes = config.runtime.time_limit_minutes
    checkpoint = RunCheckpoint(
        paths["checkpoints"],
        every_n_steps=config.runtime.checkpoint_every,
        keep=config.runtime.keep_checkpoints,
        time_limit=minutes * 60 if minutes is not None else None,
        warn=log,
    )
    return _Run(config, run_dir, log, strategy, paths, name, scale, checkpoint)


def _open_training_data(run):
    """`(train_sets, validation_sets)` of the run's config."""
    config = run.config
    train_sets = open_data_source(config.data.train, run.scale, "train", "data.train")
    return train_sets, _validation_sets(config, run.scale)


def _check_inputs(run):
    """Data and output problems surface before anything is written: the
    opened data sets, or `(None, None)` when no training is left."""
    state = run.checkpoint.latest_state()
    if state is not None and state["step"] >= run.total:
        return None, None
    config = run.config
    train_sets = open_data_source(config.data.train, run.scale, "train", "data.train")
    check_training_data(train_sets, config, run.scale, run.name)
    validation_sets = _validation_sets(config, run.scale)
    check_writable(run.paths["config"])
    return train_sets, validation_sets


def _make_run_dir(run_dir):
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create run folder '{run_dir}': {error.strerror}"
        ) from None


def _is_complete(run, state):
    return (
        state is not None
        and state["step"] >= run.total
        and os.path.isfile(run.paths["model"])
    )


def _complete_result(run, latest):
    """The result (and message) of a run that has nothing left to do."""
    done = latest["step"]
    run.log(
        f"Run in {run.run_dir} is complete: {done} of {run.total} steps done, "
        f"model in {run.paths['model']}. Raise schedule.epochs to train longer."
    )
    history = latest.get("state", {}).get(HISTORY_KEY, [])
    return RunResult(
        "complete",
        done,
        run.total,
        run.run_dir,
        run.paths["model"],
        history,
        resumed_from=done,
        already_complete=True,
    )


def _build_and_restore(run):
    """The compiled network, restored from the newest checkpoint: `(model,
    start step)`."""
    from keras_enlca.training.strategy import check_jit_compile

    config, strategy = run.config, run.strategy
    check_jit_compile(strategy, config.runtime.jit_compile)
    with strategy.scope():
        model = build_model(config, run.name)
        model.compile(
            optimizer=build_optimizer(config),
            contrastive_weight=config.contrastive.weight,
            contrastive_warmup_steps=config.contrastive_warmup_steps,
            jit_compile=config.runtime.jit_compile,
        )
        model.build((None, None, None, 3))
        try:
            start = run.checkpoint.restore(model)
        except (OSError, ValueError) as error:
            raise InputError(
                f"cannot resume the run in '{run.run_dir}': {error}"
            ) from None
        start = sync_from_chief(strategy, model, run.checkpoint, start)
    return model, start


def _announce(run, start):
    if start:
        run.log(
            f"Resuming {run.run_dir} at step {start} of {run.total} "
            f"(epoch {start // run.spe + 1})."
        )
    else:
        run.log(
            f"Training {run.name} (x{run.scale}) for {run.total} steps "
            f"({run.config.num_epochs} epochs of {run.spe}) in {run.run_dir} "
            f"on {run.strategy.num_replicas_in_sync} replica(s)."
        )


def _fit(run, model, start, history_files, train_sets, validation_sets):
    """Train from step `start` to the end (or a clean stop), one `fit` per
    segment of whole epochs."""
    from keras_enlca.training.distributed_trainer import DistributedTrainer
    from keras_enlca.training.strategy import is_multi_worker

    config = run.config
    # A different data seed after a resume: the interrupted run's patches
    # are not replayed.
    keras.utils.set_random_seed(config.runtime.seed + start)
    if train_sets is None:  # the folder changed since the check above
        train_sets, validation_sets = _open_training_data(run)
    dataset = training_dataset(
        train_sets,
        scale=run.scale,
        patch_size=config.data.patch_size,
        batch_size=config.data.batch_size,
        augment=config.data.augment,
        seed=config.runtime.seed + start,
    )
    callbacks = _make_callbacks(
        config,
        model,
        run.checkpoint,
        history_files,
        run.paths["logs"],
        run.scale,
        validation_sets,
        run.log,
    )
    # Keras `fit` fails under MultiWorkerMirroredStrategy (keras issue
    # 20585): the same train_step through DistributedTrainer.
    fit = model.fit
    if is_multi_worker(run.strategy):
        fit = DistributedTrainer(model, run.strategy).fit
    with _stop_on_signals(run.checkpoint, run.log):
        for first, last, steps in epoch_segments(start, run.total, run.spe):
            fit(
                dataset,
                initial_epoch=first,
                epochs=last,
                steps_per_epoch=steps,
                callbacks=callbacks,
                verbose=0,
                shuffle=False,
            )
            if run.checkpoint.stop_reason is not None:
                break


def _finish(run, model, start, history):
    """The result of a stopped run, or the final model saved and the result
    of a complete one."""
    checkpoint, total = run.checkpoint, run.total
    if checkpoint.stop_reason is not None and checkpoint.step < total:
        status = (
            "time limit" if checkpoint.stop_reason == "time limit" else "interrupted"
        )
        run.log(
            f"Stopped ({checkpoint.stop_reason}) at step {checkpoint.step} of "
            f"{total}; run the same command again to continue."
        )
        return RunResult(
            status,
            checkpoint.step,
            total,
            run.run_dir,
            None,
            history,
            resumed_from=start,
            stop_reason=checkpoint.stop_reason,
        )
    save_final_model(model, run.config, run.name, run.paths["model"])
    run.log(f"Done: {checkpoint.step} steps. Model: {run.paths['model']}")
    return RunResult(
        "complete",
        checkpoint.step,
        total,
        run.run_dir,
        run.paths["model"],
        history,
        resumed_from=start,
        already_complete=start >= total,
    )
