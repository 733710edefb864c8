"""The training configuration: a typed schema, YAML/JSON loading, overrides.

The public home of the config names; the parts live in `config_schema`
(the dataclasses), `config_coercion` (building them from plain data),
`config_files` (YAML/JSON), `config_presets` (preset resolution) and
`config_checks` (`validate`).

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

import os

from keras_enlca.errors import InputError
from keras_enlca.training.config_checks import validate
from keras_enlca.training.config_coercion import _build
from keras_enlca.training.config_coercion import _dotted_keys
from keras_enlca.training.config_coercion import _get
from keras_enlca.training.config_coercion import _nest
from keras_enlca.training.config_coercion import _set
from keras_enlca.training.config_coercion import parse_override
from keras_enlca.training.config_files import DATA_PATH_KEYS
from keras_enlca.training.config_files import absolute_data_paths
from keras_enlca.training.config_files import diff_configs
from keras_enlca.training.config_files import dump_config
from keras_enlca.training.config_files import read_config_file
from keras_enlca.training.config_files import read_run_config
from keras_enlca.training.config_presets import available_presets
from keras_enlca.training.config_presets import check_model_args
from keras_enlca.training.config_presets import model_arguments
from keras_enlca.training.config_presets import recipe_defaults
from keras_enlca.training.config_presets import resolve_preset
from keras_enlca.training.config_schema import ALTERNATIVES
from keras_enlca.training.config_schema import DATA_TYPES
from keras_enlca.training.config_schema import STRATEGIES
from keras_enlca.training.config_schema import ContrastiveConfig
from keras_enlca.training.config_schema import DataConfig
from keras_enlca.training.config_schema import DataSourceConfig
from keras_enlca.training.config_schema import ModelConfig
from keras_enlca.training.config_schema import RuntimeConfig
from keras_enlca.training.config_schema import ScheduleConfig
from keras_enlca.training.config_schema import TrainConfig

__all__ = [
    "ALTERNATIVES",
    "DATA_PATH_KEYS",
    "DATA_TYPES",
    "STRATEGIES",
    "ContrastiveConfig",
    "DataConfig",
    "DataSourceConfig",
    "ModelConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "TrainConfig",
    "absolute_data_paths",
    "available_presets",
    "check_model_args",
    "config_from_dict",
    "diff_configs",
    "dump_config",
    "load_config",
    "model_arguments",
    "parse_override",
    "read_config_file",
    "read_run_config",
    "recipe_defaults",
    "resolve_preset",
    "validate",
]


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
