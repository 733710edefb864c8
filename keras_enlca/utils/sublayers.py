"""Walking the layers nested inside a Keras layer or model."""


def sublayers(layer, include_self=False):
    """Every layer inside `layer`, depth first, each once.

    Keras has no public recursive walk (`Model.layers` lists only the top
    level); this keeps the private `_flatten_layers` in one place.

    Args:
        layer: a `keras.layers.Layer` (a model is one).
        include_self: list `layer` itself first.

    Example:

    ```python
    [l.name for l in sublayers(model) if isinstance(l, keras_enlca.layers.ENLCA)]
    ```
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=True))
