"""Preset resolution for a training config: the full preset name (family +
scale), its reference recipe and the network's constructor arguments."""

import difflib
import inspect
import re

from keras_enlca.errors import InputError


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
