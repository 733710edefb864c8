"""Finding the non-local attention layers of any model of this library."""

import keras

from keras_enlca.layers.efficient_non_local_contrastive_attention import (
    EfficientNonLocalContrastiveAttention,
)
from keras_enlca.layers.non_local_attention import NonLocalAttention
from keras_enlca.layers.non_local_sparse_attention import NonLocalSparseAttention
from keras_enlca.utils.sublayers import sublayers

# The layer types an attention map can be drawn for, with their short names.
ATTENTION_KINDS = (
    (EfficientNonLocalContrastiveAttention, "ENLCA"),
    (NonLocalSparseAttention, "NLSA"),
    (NonLocalAttention, "NLA"),
)


def attention_kind(layer):
    """`"NLA"`, `"NLSA"` or `"ENLCA"` for an attention layer, else `None`."""
    for cls, kind in ATTENTION_KINDS:
        if isinstance(layer, cls):
            return kind
    return None


def find_attention_layers(model):
    """The NLA, NLSA and ENLCA layers inside `model`, at any depth.

    Layers are found by type, at any depth (nested models and layers), so
    presets, converted checkpoints and a user's own Functional or
    subclassed models all work. Each layer is named by its path: the names
    of the models that hold it below `model`, then its own name
    (`"body_9"`, or `"backbone/body_9"` inside a nested model).

    Args:
        model: a `keras.Model` (or any layer).

    Returns:
        A list of `(path, layer)` pairs.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    [path for path, _ in find_attention_layers(model)]  # ['body_0', 'body_9']
    ```
    """
    everything = sublayers(model)
    containers = [
        (inner, sublayers(inner))
        for inner in everything
        if isinstance(inner, keras.Model)
    ]
    # Outermost first: a container holds more layers than the ones inside it.
    containers.sort(key=lambda item: -len(item[1]))
    found = []
    for layer in everything:
        if attention_kind(layer) is None:
            continue
        parents = [inner.name for inner, inside in containers if layer in inside]
        found.append(("/".join([*parents, layer.name]), layer))
    return found
