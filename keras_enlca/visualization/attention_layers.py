"""Finding the non-local attention layers of any model of this library."""

import keras

# Which layers are attention layers, and their short names: the registry's.
from keras_enlca.models.registry import attention_kind
from keras_enlca.utils.sublayers import sublayers


def find_attention_layers(model):
    """The attention layers (NLA, NLSA, ENLCA: `attention_kind`) inside
    `model`, at any depth.

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
