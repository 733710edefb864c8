"""Named configurations of the networks, with their training recipes.

Every registered network family (`keras_enlca.models.registry`) brings its
presets: `from_preset(name, **overrides)` builds one, `preset_config(name)`
gives its `(class, kwargs)` and `get_recipe(name)` the training settings the
papers' reference code used for it, as dotted `TrainConfig` keys (the train
command starts from them). `PRESETS` and `RECIPES` are read-only views of
the registry: `PRESETS[name] = (class, kwargs)`, `RECIPES[name] = recipe`.
"""

import collections.abc
import copy

from keras_enlca.errors import InputError
from keras_enlca.models.registry import family_names
from keras_enlca.models.registry import get_family
from keras_enlca.models.registry import preset_family


def list_presets():
    """Names of all presets of the registered families, sorted."""
    return sorted(
        name for family in family_names() for name in get_family(family).presets
    )


def _family(name):
    family = preset_family(name)
    if family is None:
        raise InputError(
            f"Unknown preset '{name}'. Available presets: " + ", ".join(list_presets())
        )
    return family


def preset_config(name):
    """`(class, kwargs)` of a preset (a copy, safe to modify)."""
    family = _family(name)
    return family.model_class, copy.deepcopy(family.presets[name])


def get_recipe(name):
    """The reference training recipe of a preset (a copy): dotted
    `TrainConfig` keys to values, e.g. `{"schedule.learning_rate": 1e-4}`."""
    return copy.deepcopy(_family(name).recipes.get(name, {}))


def from_preset(name, **overrides):
    """Build a network from a preset name.

    Args:
        name: str. A name from `list_presets()`, e.g. `"enlcn_x4"`,
            `"a2n_m_x2"`, `"edsr_small_x2"`.
        **overrides: constructor arguments replacing the preset's, e.g.
            `num_blocks=4` or `dtype="mixed_float16"`.

    Returns:
        A `SuperResolutionModel` (untrained weights).

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2", num_blocks=4)
    ```
    """
    cls, kwargs = preset_config(name)
    kwargs.update(overrides)
    return cls(**kwargs)


class _RegistryView(collections.abc.Mapping):
    """A read-only mapping over every preset of the registry."""

    def __init__(self, read):
        self._read = read

    def __getitem__(self, name):
        family = preset_family(name)
        if family is None:
            raise KeyError(name)
        return self._read(family, name)

    def __iter__(self):
        return iter(list_presets())

    def __len__(self):
        return len(list_presets())


PRESETS = _RegistryView(lambda family, name: (family.model_class, family.presets[name]))
RECIPES = _RegistryView(lambda family, name: family.recipes.get(name, {}))
