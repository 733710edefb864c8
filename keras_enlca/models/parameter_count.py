"""Parameter counting that matches PyTorch's `sum(p.numel() for p in
model.parameters())` for the reference networks."""

import math

from keras_enlca.models.registry import random_buffer_attributes
from keras_enlca.utils.sublayers import sublayers


def random_buffers(model):
    """The attention layers' random-projection weights inside `model`.

    Saved with the model, but buffers (ENLCA's `attn_fn.projection_matrix`)
    or per-call draws (NLSA rotations) in the reference, not parameters: the
    attributes each registered family names in `random_buffer_attributes`.
    """
    buffers = []
    attributes = random_buffer_attributes()
    for layer in sublayers(model, include_self=True):
        for attribute in attributes:
            variable = getattr(layer, attribute, None)
            if variable is not None and hasattr(variable, "shape"):
                buffers.append(variable)
    return buffers


def count_parameters(model):
    """Count parameters the way the reference PyTorch code does.

    Every float weight counts, trainable or not (so the 24 frozen `MeanShift`
    values of EDSR-family networks are included, as they are PyTorch
    `Parameter`s), except the attention layers' random buffers
    (`projection_matrix` of ENLCA, `rotations` of NLSA), which are buffers
    or per-call draws in the reference.

    Args:
        model: a built `keras.Model` or `keras.layers.Layer`.

    Returns:
        int. The number of parameters.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_x4")
    keras_enlca.models.count_parameters(model)  # 43_583_387
    ```
    """
    excluded = {id(v) for v in random_buffers(model)}
    return sum(
        math.prod(int(d) for d in weight.shape)
        for weight in model.weights
        if id(weight) not in excluded and _is_float(weight)
    )


def count_weights(model):
    """The number of float weight values of `model`: its parameters and
    random buffers, as a reference state dict holds them (not the integer
    training state, e.g. `SuperResolutionModel`'s warm-up step counter).

    Args:
        model: a built `keras.Model` or `keras.layers.Layer`.

    Returns:
        int. The number of weight values.
    """
    return sum(
        math.prod(int(d) for d in weight.shape)
        for weight in model.weights
        if _is_float(weight)
    )


def _is_float(weight):
    """Integer variables are training state (the contrastive warm-up step
    counter of `SuperResolutionModel`), never PyTorch parameters."""
    return "float" in str(weight.dtype)
