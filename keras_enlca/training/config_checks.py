"""The checks of a training config that the types alone do not catch."""

import re

from keras_enlca.errors import InputError
from keras_enlca.training.config_schema import DATA_TYPES
from keras_enlca.training.config_schema import STRATEGIES


def _positive(value, key, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return
    if value is None or value < 0 or (value == 0 and not allow_zero):
        raise InputError(
            f"'{key}' must be {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )


def _check_form(form):
    # The layer owns the list; imported here only when a form is set (the
    # layers load TensorFlow, which `--print-config` otherwise does without).
    from keras_enlca.layers.contrastive import CONTRASTIVE_FORMS

    if form not in CONTRASTIVE_FORMS:
        raise InputError(
            f"'contrastive.form' must be one of {', '.join(CONTRASTIVE_FORMS)}, got "
            f"{form!r}"
        )


def validate(config):
    """Check values that the types alone do not catch; return the config."""
    if not config.model.preset:
        raise InputError(
            "'model.preset' is not set (use --preset NAME or a config file)"
        )
    _check_schedule(config.schedule)
    _check_contrastive(config.contrastive)
    _check_data(config.data)
    _check_runtime(config.runtime)
    _positive(config.scale, "scale", allow_none=True)
    return config


def _check_schedule(s):
    """The run length, learning rate, decay steps and Adam settings."""
    if (s.epochs is None) == (s.total_steps is None):
        raise InputError(
            "set exactly one of 'schedule.epochs' and 'schedule.total_steps' "
            f"(got epochs={s.epochs}, total_steps={s.total_steps})"
        )
    _positive(s.epochs, "schedule.epochs", allow_none=True)
    _positive(s.total_steps, "schedule.total_steps", allow_none=True)
    _positive(s.steps_per_epoch, "schedule.steps_per_epoch")
    _positive(s.learning_rate, "schedule.learning_rate")
    _positive(s.decay_factor, "schedule.decay_factor")
    _positive(
        s.projection_redraw_interval,
        "schedule.projection_redraw_interval",
        allow_none=True,
        allow_zero=True,
    )
    if list(s.decay_milestones) != sorted(set(s.decay_milestones)) or any(
        m <= 0 for m in s.decay_milestones
    ):
        raise InputError(
            "'schedule.decay_milestones' must be increasing positive epochs, "
            f"got {s.decay_milestones}"
        )
    for name in ("beta_1", "beta_2"):
        value = getattr(s, name)
        if not 0.0 <= value < 1.0:
            raise InputError(f"'schedule.{name}' must be in [0, 1), got {value}")


def _check_contrastive(c):
    """The contrastive loss weight, warm-up and form."""
    _positive(c.weight, "contrastive.weight", allow_zero=True)
    if c.warmup_epochs is not None and c.warmup_steps is not None:
        raise InputError(
            "set at most one of 'contrastive.warmup_epochs' and "
            "'contrastive.warmup_steps'"
        )
    _positive(
        c.warmup_epochs, "contrastive.warmup_epochs", allow_none=True, allow_zero=True
    )
    _positive(
        c.warmup_steps, "contrastive.warmup_steps", allow_none=True, allow_zero=True
    )
    if c.form is not None:
        _check_form(c.form)


def _check_data(d):
    """Patch and batch sizes and the data sources."""
    _positive(d.patch_size, "data.patch_size")
    _positive(d.batch_size, "data.batch_size")
    _positive(d.validation_images, "data.validation_images", allow_none=True)
    for name, source in (("data.train", d.train), ("data.validation", d.validation)):
        if source is None:
            continue
        if source.type not in DATA_TYPES:
            raise InputError(
                f"'{name}.type' must be one of {', '.join(DATA_TYPES)}, got "
                f"{source.type!r}"
            )
        if source.type == "paired" and not source.lr_dir:
            raise InputError(f"'{name}.lr_dir' is required for paired data")
        if source.range is not None and not re.fullmatch(
            r"\s*\d+\s*-\s*\d+\s*", source.range
        ):
            raise InputError(
                f"'{name}.range' must look like '1-800', got {source.range!r}"
            )


def _check_runtime(r):
    """The strategy, checkpoints, validation and time limit."""
    if r.strategy not in STRATEGIES:
        raise InputError(
            f"'runtime.strategy' must be one of {', '.join(STRATEGIES)}, got "
            f"{r.strategy!r}"
        )
    _positive(r.checkpoint_every, "runtime.checkpoint_every")
    _positive(r.keep_checkpoints, "runtime.keep_checkpoints")
    _positive(r.validate_every, "runtime.validate_every")
    _positive(r.time_limit_minutes, "runtime.time_limit_minutes", allow_none=True)
