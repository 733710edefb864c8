"""The registry of network families: one entry per network.

`register_family(NetworkFamily(...))` makes a network known to the whole
library: `from_preset`/`list_presets`/`get_recipe` (and so `enlca train`),
`count_parameters` (its random buffers) and the int8 export (its attention
layers). The built-in families (`edsr`, `nlsn`, `enlcn`, `a2n`, `a2n-m`)
are registered by `keras_enlca.models.families` when `keras_enlca.models`
is imported.
"""

from keras_enlca.errors import InputError
from keras_enlca.utils.sublayers import sublayers

_FAMILIES = {}
# Attention layers that no registered family holds but a user's network may
# (the non-local attention baseline); see `register_attention_layer`.
_ATTENTION_LAYERS = []
# Attention layer class -> its short name ("NLA", "NLSA", "ENLCA").
_ATTENTION_KINDS = {}


def register_family(family):
    """Add a network family to the registry.

    Args:
        family: a `NetworkFamily`.

    Returns:
        The `family`.

    Raises:
        ValueError: a family of that name is registered already, or one of
            its preset names belongs to another family.

    Example:

    ```python
    keras_enlca.models.register_family(
        NetworkFamily("tiny", "Tiny", TinyNet, presets={"tiny_x2": {"scale": 2}})
    )
    ```
    """
    if family.name in _FAMILIES:
        raise ValueError(f"A network family {family.name!r} is registered already.")
    for other in _FAMILIES.values():
        shared = sorted(set(family.presets) & set(other.presets))
        if shared:
            raise ValueError(
                f"Network family {family.name!r}: presets {', '.join(shared)} "
                f"belong to {other.name!r} already."
            )
    _FAMILIES[family.name] = family
    return family


def unregister_family(name):
    """Remove a family from the registry (for tests and experiments)."""
    get_family(name)
    del _FAMILIES[name]


def family_names():
    """The registered family names, in registration order."""
    return tuple(_FAMILIES)


def get_family(name):
    """The `NetworkFamily` registered as `name`.

    Raises:
        InputError: no family of that name, naming the registered ones.
    """
    if name not in _FAMILIES:
        raise InputError(
            f"Unknown network family '{name}'. Registered families: "
            + ", ".join(_FAMILIES)
        )
    return _FAMILIES[name]


def family_of(model):
    """The family of a Keras network of this library, or `None`.

    The family whose `model_class` the model is an instance of and whose
    `defining_arguments` its configuration has; families registered later
    win (a subclass of a registered network is registered after it).
    """
    for family in reversed(_FAMILIES.values()):
        if family.matches(model):
            return family
    return None


def preset_family(preset_name):
    """The family that holds the preset `preset_name`, or `None`."""
    for family in _FAMILIES.values():
        if preset_name in family.presets:
            return family
    return None


def register_attention_layer(layer_class, kind=None):
    """Count a layer class as non-local attention, with its short name.

    `attention_layer_classes()` lists it beside the families' own;
    `attention_kind` names its layers `kind` (default: the class name).
    The one place the library learns which layers are attention layers
    (int8 export, attention maps, the contrastive loss all ask here).
    """
    if layer_class not in _ATTENTION_LAYERS:
        _ATTENTION_LAYERS.append(layer_class)
    _ATTENTION_KINDS[layer_class] = str(kind or layer_class.__name__)


def attention_kind(layer):
    """The short name (`"NLA"`, `"NLSA"`, `"ENLCA"`) of an attention layer,
    else None; a subclass is named by its nearest registered class."""
    matches = [c for c in attention_layer_classes() if isinstance(layer, c)]
    if not matches:
        return None
    nearest = max(matches, key=lambda c: len(c.__mro__))
    return _ATTENTION_KINDS.get(nearest, nearest.__name__)


def attention_layers_of(model, kind=None):
    """The attention layers inside `model` (of one `kind`, if given), in
    model order."""
    return [
        layer
        for layer in sublayers(model)
        if attention_kind(layer) is not None
        and (kind is None or attention_kind(layer) == kind)
    ]


def chop_variant_of(network):
    """The reference `forward_chop` variant of a network (its family's), or
    None: `network` is a model of a registered family or the class name an
    export recorded (`"A2N"`)."""
    if isinstance(network, str):
        for family in _FAMILIES.values():
            if network in (family.model_class.__name__, family.display_name):
                return family.chop_variant
        return None
    family = family_of(network)
    return family.chop_variant if family is not None else None


def attention_layer_classes():
    """Every attention layer class: the families' and the registered ones."""
    classes = list(_ATTENTION_LAYERS)
    for family in _FAMILIES.values():
        classes.extend(c for c in family.attention_layers if c not in classes)
    return tuple(classes)


def random_buffer_attributes():
    """The random-buffer attribute names of all registered families."""
    names = []
    for family in _FAMILIES.values():
        names.extend(a for a in family.random_buffer_attributes if a not in names)
    return tuple(names)
