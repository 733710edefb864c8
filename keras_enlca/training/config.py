"""The training configuration: a typed schema, YAML/JSON loading, overrides.

A run is described by one `TrainConfig`, built in layers, each overriding the
one before:

1. the schema defaults (the ENLCN paper settings),
2. the reference training recipe of the preset
   (`keras_enlca.models.get_recipe`: A2N, EDSR and the small CPU presets
   train with other settings),
3. the config file (YAML or JSON),
4. command-line overrides: dotted `key=value` pairs, values parsed as YAML
   (`schedule.epochs=2`, `model.args.num_blocks=8`,
   `schedule.decay_milestones=[2, 4]`).

Every key is checked: an unknown key or a value of the wrong type raises an
`InputError` naming the key (and the file or option it came from).
"""

import dataclasses
import difflib
import inspect
import json
import os
import re
import types
import typing

import yaml

from keras_enlca.errors import InputError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
DATA_TYPES = ("auto", "div2k", "folder", "paired")


@dataclasses.dataclass
class DataSourceConfig:
    """Where a set of training or validation images lives.

    Args:
        type: `"div2k"` (the DIV2K layout: `dir` holds `DIV2K_train_HR/`
            and optionally `DIV2K_train_LR_bicubic/X{s}/`), `"folder"` (a
            folder of HR images; LR made by MATLAB-compatible bicubic
            downscaling), `"paired"` (HR images in `dir`, LR images in
            `lr_dir`) or `"auto"` (div2k when `dir` has the DIV2K layout,
            paired when `lr_dir` is set, folder otherwise).
        dir: the DIV2K root or the HR folder.
        lr_dir: the LR folder (paired data only).
        range: DIV2K image numbers, e.g. `"1-800"` (reference training
            split) or `"801-810"`. Ignored by the other types.
    """

    type: str = "auto"
    dir: str | None = None
    lr_dir: str | None = None
    range: str | None = None


@dataclasses.dataclass
class ModelConfig:
    """The network.

    Args:
        preset: a preset name from `keras_enlca.models.list_presets()`
            (`"enlcn_x4"`, `"enlcn_small_x2"`), or a family name without
            the scale suffix (`"enlcn"`, `"a2n_small"`) completed by the
            top-level `scale`.
        args: constructor overrides for the preset, e.g. `{num_blocks: 8}`.
    """

    preset: str | None = None
    args: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DataConfig:
    """Training and validation data.

    Args:
        train: the training images (`DataSourceConfig`).
        validation: optional held-out images, scored (Y-PSNR/SSIM) every
            `runtime.validate_every` epochs.
        patch_size: the LR patch size; the HR patch is `patch_size * scale`
            (reference: 48, i.e. `--patch_size 192` at x4).
        batch_size: the global batch size, split over replicas.
        augment: random flips and transposes (all 8 dihedral transforms).
        validation_images: score at most this many validation images
            (None: all).
    """

    train: DataSourceConfig = dataclasses.field(default_factory=DataSourceConfig)
    validation: DataSourceConfig | None = None
    patch_size: int = 48
    batch_size: int = 16
    augment: bool = True
    validation_images: int | None = None


@dataclasses.dataclass
class ScheduleConfig:
    """Length of the run, optimizer and learning-rate steps.

    Args:
        epochs: number of epochs. Exactly one of `epochs` and `total_steps`
            is set (reference: 1000).
        steps_per_epoch: optimizer steps per epoch (reference `test_every`:
            1000).
        total_steps: the run length in steps instead of epochs; the last
            epoch is then shorter.
        learning_rate: the initial learning rate (reference 1e-4).
        decay_milestones: epochs at which the learning rate is multiplied by
            `decay_factor` (reference 200-400-600-800).
        decay_factor: the step-decay factor (reference 0.5).
        beta_1, beta_2, epsilon: Adam settings (reference 0.9, 0.999, 1e-8).
        projection_redraw_interval: redraw the ENLCA random projections
            every this many steps (reference 640); None or 0 never redraws.
    """

    epochs: int | None = 1000
    steps_per_epoch: int = 1000
    total_steps: int | None = None
    learning_rate: float = 1e-4
    decay_milestones: list[int] = dataclasses.field(
        default_factory=lambda: [200, 400, 600, 800]
    )
    decay_factor: float = 0.5
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    projection_redraw_interval: int | None = 640


@dataclasses.dataclass
class ContrastiveConfig:
    """The ENLCA contrastive loss (ignored by networks without ENLCA).

    Args:
        weight: λ in `L1 + λ·L_cl` (reference 1e-3); 0 turns it off.
        warmup_epochs: epochs trained with L1 only (reference code: 101,
            `last_epoch > 100`; the paper says 150).
        warmup_steps: the warm-up in steps instead of epochs; set at most
            one of the two.
        form: `"code"` (the released code's loss) or `"paper"`; None keeps
            the preset's choice.
    """

    weight: float = 1e-3
    warmup_epochs: int | None = 101
    warmup_steps: int | None = None
    form: str | None = None


@dataclasses.dataclass
class RuntimeConfig:
    """How the run executes.

    Args:
        strategy: `"auto"` (MultiWorkerMirroredStrategy when TF_CONFIG or
            `srun` describes several workers, else MirroredStrategy when
            several GPUs are visible, else one device), `"one_device"`,
            `"mirrored"` or `"multi_worker"` (see the README, "Several
            machines").
        mixed_precision: train under the `mixed_float16` policy.
        jit_compile: compile the train step with XLA.
        seed: the random seed (reference 1).
        checkpoint_every: save a resumable checkpoint every this many steps
            (and at every epoch end).
        keep_checkpoints: how many resumable checkpoints to keep.
        validate_every: score the validation set every this many epochs.
        time_limit_minutes: stop cleanly (with a checkpoint) after this
            long; running the command again continues.
    """

    strategy: str = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False
    seed: int = 1
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    validate_every: int = 1
    time_limit_minutes: float | None = None


@dataclasses.dataclass
class TrainConfig:
    """A whole training run.

    Build one with `load_config()`; `to_dict()` gives the plain form that
    `enlca train` writes to `RUN_DIR/config.yaml`.

    Args:
        model: the network (`ModelConfig`).
        scale: the upscaling factor; None takes it from the preset name.
        data: the data (`DataConfig`).
        schedule: run length, optimizer, learning-rate steps
            (`ScheduleConfig`).
        contrastive: the ENLCA contrastive loss (`ContrastiveConfig`).
        runtime: devices, precision, checkpoints (`RuntimeConfig`).

    Example:

    ```python
    config = load_config(
        "configs/enlcn_x4_paper.yaml",
        overrides=["schedule.epochs=2", "data.batch_size=4"],
    )
    config.total_steps  # 2000 (2 epochs of 1000 steps)
    ```
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    scale: int | None = None
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    contrastive: ContrastiveConfig = dataclasses.field(
        default_factory=ContrastiveConfig
    )
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def total_steps(self):
        """The run length in optimizer steps."""
        if self.schedule.total_steps is not None:
            return self.schedule.total_steps
        return self.schedule.epochs * self.schedule.steps_per_epoch

    @property
    def num_epochs(self):
        """The number of (possibly partial) epochs the run has."""
        spe = self.schedule.steps_per_epoch
        return -(-self.total_steps // spe)

    @property
    def contrastive_warmup_steps(self):
        """The contrastive warm-up in optimizer steps."""
        c = self.contrastive
        if c.warmup_steps is not None:
            return c.warmup_steps
        return (c.warmup_epochs or 0) * self.schedule.steps_per_epoch


# Pairs of alternatives: setting the second (and not the first) in a file or
# an override clears the first, whatever the defaults said.
ALTERNATIVES = (
    ("schedule.epochs", "schedule.total_steps"),
    ("schedule.total_steps", "schedule.epochs"),
    ("contrastive.warmup_epochs", "contrastive.warmup_steps"),
    ("contrastive.warmup_steps", "contrastive.warmup_epochs"),
)


def recipe_defaults(preset_name):
    """The dotted config defaults of a preset's reference recipe (the
    recipes are written in config keys: `schedule.learning_rate`, ...)."""
    from keras_enlca.models.presets import get_recipe

    return get_recipe(preset_name)


def check_model_args(preset_name, args):
    """Raise `InputError` for a `model.args` key the network does not take."""
    from keras_enlca.models.presets import preset_config

    cls, _ = preset_config(preset_name)
    parameters = inspect.signature(cls.__init__).parameters
    allowed = [p for p in parameters if p not in ("self", "kwargs", "scale", "dtype")]
    for key in args:
        if key == "scale":
            raise InputError("'model.args.scale': set the top-level 'scale' instead")
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise InputError(
                f"'model.args.{key}' is not an argument of {cls.__name__} "
                f"({hint}arguments: {', '.join(allowed)})"
            )


def model_arguments(config, name):
    """Constructor overrides for preset `name`: `model.args` + contrastive form."""
    from keras_enlca.models.presets import preset_config

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


def available_presets():
    from keras_enlca.models.presets import list_presets

    return list_presets()


def resolve_preset(config, available):
    """The full preset name of `config` (family + scale), checked.

    Args:
        config: a `TrainConfig`.
        available: the known preset names.

    Returns:
        `(name, scale)`: `model.preset` itself when it is a full name
        (`scale` must then agree with its `_x{s}` suffix), else
        `f"{model.preset}_x{scale}"`.
    """
    name = config.model.preset
    available = list(available)
    match = re.fullmatch(r"(.+)_x(\d+)", name)
    if match:
        if name not in available:
            raise _unknown_preset(name, available)
        preset_scale = int(match.group(2))
        if config.scale is not None and config.scale != preset_scale:
            raise InputError(
                f"'scale' is {config.scale} but 'model.preset' {name} is "
                f"x{preset_scale}"
            )
        return name, preset_scale
    if config.scale is None:
        raise InputError(
            f"'model.preset' {name} has no scale suffix: set 'scale' or use e.g. "
            f"{name}_x4"
        )
    full = f"{name}_x{config.scale}"
    if full not in available:
        scales = sorted(
            int(m.group(1))
            for m in (re.fullmatch(rf"{re.escape(name)}_x(\d+)", a) for a in available)
            if m
        )
        if scales:  # a known network at a scale it has no preset for
            raise InputError(
                f"'scale' is {config.scale}, but {name} has presets for "
                f"{', '.join(f'x{s}' for s in scales)} only; set scale (--scale or "
                f"--set scale=N) to one of {', '.join(map(str, scales))}"
            )
        raise _unknown_preset(full, available)
    return full, config.scale


def _unknown_preset(name, available):
    close = difflib.get_close_matches(name, available, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return InputError(f"'model.preset': unknown preset '{name}'{hint}")


def _field_names(cls):
    return [f.name for f in dataclasses.fields(cls)]


def _unknown_key(key, known, source):
    parent, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, known, n=1)
    hint = (
        f" (did you mean '{parent + '.' if parent else ''}{close[0]}'?)"
        if close
        else ""
    )
    where = f"{source}: " if source else ""
    return InputError(f"{where}unknown key '{key}'{hint}")


def _is_union(tp):
    """`int | None` and `typing.Optional[int]` alike."""
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp):
    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {
        int: "an integer",
        float: "a number",
        bool: "true/false",
        str: "a string",
        dict: "a mapping",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value, tp, key, source):
    """Check `value` against the annotation `tp`; return the clean value."""
    where = f"{source}: " if source else ""

    def wrong():
        return InputError(f"{where}'{key}' must be {_type_name(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if args[0] in (int, float, bool, str):
            try:
                return _coerce(value, args[0], key, source)
            except InputError:
                raise wrong() from None
        return _coerce(value, args[0], key, source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise wrong()
        return _build(tp, value, key, source)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                raise wrong() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise wrong()
        return dict(value)
    raise TypeError(f"Unsupported config annotation {tp} for {key}")


def _build(cls, values, prefix, source, base=None):
    """Build dataclass `cls` from the mapping `values` over `base`."""
    hints = typing.get_type_hints(cls)
    known = _field_names(cls)
    obj = base if base is not None else cls()
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in known:
            raise _unknown_key(key, known, source)
        tp = hints[name]
        current = getattr(obj, name)
        sub_cls = _dataclass_in(tp)
        if sub_cls is not None and isinstance(value, dict):
            # Merge into the existing section instead of replacing it.
            setattr(
                obj,
                name,
                _build(
                    sub_cls,
                    value,
                    key,
                    source,
                    base=current if current is not None else sub_cls(),
                ),
            )
        elif name == "args" and cls is ModelConfig and isinstance(value, dict):
            merged = dict(current)
            merged.update(value)
            setattr(obj, name, merged)
        else:
            setattr(obj, name, _coerce(value, tp, key, source))
    return obj


def _dataclass_in(tp):
    if dataclasses.is_dataclass(tp):
        return tp
    if _is_union(tp):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def parse_override(text):
    """`"schedule.epochs=2"` -> `("schedule.epochs", 2)` (value read as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise InputError(
            f"override '{text}' must look like KEY=VALUE, e.g. schedule.epochs=2"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(key, value):
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def read_config_file(path):
    """Read a YAML or JSON config file into a dict (InputError on problems)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"config file '{path}' does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if path.lower().endswith(".json"):
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"config file '{path}' is not valid JSON (line {error.lineno}): {error.msg}"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise InputError(
            f"config file '{path}' is not valid YAML{line}: {problem}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"config file '{path}' must hold a mapping of keys")
    return data


# The config keys that name data folders: stored absolute in a run folder's
# config.yaml (relative to the run folder when the data lives beside it, as
# in `enlca demo`), so that a run resumes from any working directory and
# after the folder is moved.
DATA_PATH_KEYS = (
    "data.train.dir",
    "data.train.lr_dir",
    "data.validation.dir",
    "data.validation.lr_dir",
)


def _data_paths(values):
    """`(dotted key, parent dict, name)` of every data path set in `values`."""
    data = values.get("data") if isinstance(values, dict) else None
    for source in ("train", "validation"):
        entry = data.get(source) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            continue
        for name in ("dir", "lr_dir"):
            if isinstance(entry.get(name), str) and entry[name]:
                yield f"data.{source}.{name}", entry, name


def absolute_data_paths(config, base=None):
    """Makes the data folders of `config` absolute (relative ones are taken
    from `base`, else the current folder); returns `config`."""
    base = os.path.abspath(base or os.getcwd())
    for source in (config.data.train, config.data.validation):
        if source is None:
            continue
        for name in ("dir", "lr_dir"):
            value = getattr(source, name)
            if value:
                path = os.path.expanduser(value)
                setattr(source, name, os.path.normpath(os.path.join(base, path)))
    return config


def read_run_config(path):
    """`read_config_file` for a run folder's config.yaml: relative data
    folders are taken from the run folder (see `DATA_PATH_KEYS`)."""
    values = read_config_file(path)
    run_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    for _, entry, name in _data_paths(values):
        path = os.path.expanduser(entry[name])
        beside = os.path.normpath(os.path.join(run_dir, path))
        # Run folders of earlier versions kept paths relative to where the
        # run was started: still found from there.
        if not os.path.isabs(path) and not os.path.isdir(beside):
            if os.path.isdir(path):
                beside = os.path.abspath(path)
        entry[name] = beside
    return values


def config_from_dict(values, source=None, overrides=(), preset=None):
    """Build and validate a `TrainConfig` from plain data.

    Args:
        values: a nested dict (the content of a config file) or None.
        source: a name for error messages (the file path).
        overrides: dotted `"key=value"` strings or `(key, value)` pairs,
            applied after `values`.
        preset: a preset name that replaces `model.preset`.
    """
    values = values or {}
    pairs = [parse_override(o) if isinstance(o, str) else tuple(o) for o in overrides]
    # Validate the user's layers once to find the final preset (its recipe
    # gives the defaults), then build for real over those defaults.
    probe = _build(TrainConfig, values, "", source)
    for key, value in pairs:
        _build(TrainConfig, _nest(key, value), "", None, base=probe)
    if preset is not None:
        probe.model.preset = preset
    if not probe.model.preset:
        raise InputError(
            "'model.preset' is not set (use --preset NAME or a config file)"
        )
    full_name, scale = resolve_preset(probe, available_presets())
    check_model_args(full_name, probe.model.args)
    config = TrainConfig()
    for key, value in recipe_defaults(full_name).items():
        _build(TrainConfig, _nest(key, value), "", None, base=config)
    _build(TrainConfig, values, "", source, base=config)
    for key, value in pairs:
        _build(TrainConfig, _nest(key, value), "", None, base=config)
    if preset is not None:
        config.model.preset = preset
    config.scale = scale
    file_keys = set(_dotted_keys(values))
    override_keys = set()
    for key, value in pairs:
        override_keys.update(_dotted_keys(_nest(key, value)))
    # An override (command line) replaces its alternative whether the file
    # set it or not; a file key replaces only a default.
    for cleared, chosen in ALTERNATIVES:
        if _get(config, chosen) is None:
            continue
        if chosen in override_keys and cleared not in override_keys:
            _set(config, cleared, None)
        elif chosen in file_keys and cleared not in file_keys | override_keys:
            _set(config, cleared, None)
    validate(config)
    return absolute_data_paths(config)


def _dotted_keys(values, prefix=""):
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        yield dotted
        if isinstance(value, dict):
            yield from _dotted_keys(value, dotted)


def _get(config, dotted):
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set(config, dotted, value):
    parent, _, name = dotted.rpartition(".")
    setattr(_get(config, parent) if parent else config, name, value)


def load_config(path=None, overrides=(), preset=None):
    """Load a training config from a YAML/JSON file and/or a preset.

    Args:
        path: a `.yaml`/`.yml`/`.json` file, or None for the defaults.
        overrides: dotted `"key=value"` strings applied on top, values
            parsed as YAML (`"schedule.decay_milestones=[2, 4]"`).
        preset: a preset name that replaces `model.preset`.

    Returns:
        A validated `TrainConfig`.
    """
    values = read_config_file(path) if path is not None else {}
    return config_from_dict(
        values,
        source=os.fspath(path) if path else None,
        overrides=overrides,
        preset=preset,
    )


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
    s = config.schedule
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
    c = config.contrastive
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
    d = config.data
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
    r = config.runtime
    if r.strategy not in STRATEGIES:
        raise InputError(
            f"'runtime.strategy' must be one of {', '.join(STRATEGIES)}, got "
            f"{r.strategy!r}"
        )
    _positive(r.checkpoint_every, "runtime.checkpoint_every")
    _positive(r.keep_checkpoints, "runtime.keep_checkpoints")
    _positive(r.validate_every, "runtime.validate_every")
    _positive(r.time_limit_minutes, "runtime.time_limit_minutes", allow_none=True)
    _positive(config.scale, "scale", allow_none=True)
    return config


def dump_config(config, path):
    """Write `config` as YAML to `path` atomically.

    Data folders are written absolute, or relative to the run folder (the
    folder of `path`) when they lie inside the folder that holds it (the
    demo's data): the run resumes from anywhere and travels with its data.
    """
    from keras_enlca.utils.atomic import atomic_path

    values = config.to_dict()
    run_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    home = os.path.dirname(run_dir)
    for _, entry, name in _data_paths(values):
        folder = os.path.abspath(entry[name])
        inside = os.path.commonpath([folder, home]) == home and home != os.sep
        entry[name] = os.path.relpath(folder, run_dir) if inside else folder
    text = (
        "# Resolved keras-enlca training config (defaults, file and overrides).\n"
        "# Data folders: absolute, or relative to this run folder.\n"
        + yaml.safe_dump(values, sort_keys=False, default_flow_style=None)
    )
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def diff_configs(old, new):
    """Dotted keys whose values differ between two config dicts."""
    out = []

    def walk(a, b, prefix):
        keys = (
            sorted(set(a) | set(b))
            if isinstance(a, dict) and isinstance(b, dict)
            else None
        )
        if keys is None:
            if a != b:
                out.append(prefix)
            return
        for k in keys:
            walk(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)

    walk(old, new, "")
    return out
