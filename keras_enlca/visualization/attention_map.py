"""`attention_map`: where a model's non-local attention looks, for one pixel."""

import numpy as np

from keras_enlca.errors import InputError
from keras_enlca.visualization.attention_layers import attention_kind
from keras_enlca.visualization.attention_layers import find_attention_layers
from keras_enlca.visualization.attention_row import attention_row
from keras_enlca.visualization.layer_attention import LayerAttention
from keras_enlca.visualization.layer_inputs import layer_inputs


def _as_batch(image):
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise InputError(f"Expected an (H, W, C) image, got shape {np.shape(image)}")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / np.float32(255.0)
    return array.astype(np.float32)[None]


def _select(model, layer):
    found = find_attention_layers(model)
    if not found:
        raise InputError(
            f"{model.name}: has no NLA, NLSA or ENLCA attention layer to map."
        )
    if layer is None:
        return found
    if not isinstance(layer, str):
        if attention_kind(layer) is None:
            raise InputError(f"{layer.name}: not an NLA, NLSA or ENLCA layer.")
        chosen = [item for item in found if item[1] is layer]
    else:
        chosen = [item for item in found if layer in (item[0], item[1].name)]
    if not chosen:
        names = ", ".join(path for path, _ in found)
        raise InputError(
            f"{layer if isinstance(layer, str) else layer.name}: no attention layer of "
            f"that name in {model.name} (its attention layers: {names})."
        )
    if len(chosen) > 1:
        raise InputError(
            f"{layer}: several attention layers have that name; use its path "
            f"({', '.join(path for path, _ in chosen)})."
        )
    return chosen


def attention_map(model, image, point, layer=None):
    """The attention weights of one pixel over the image, per attention layer.

    For the query at `point` (input-image pixels, mapped to each layer's
    resolution), every NLA, NLSA and ENLCA layer of `model` (found by type,
    nested models included) gives its weights over all positions at its
    own resolution, as in Figure 1 of the ENLCA paper:

    - NLA: the exact softmax row.
    - NLSA: the weights over the keys the query meets in its buckets (its
      chunk and the neighbouring chunks of every hash round, combined over
      rounds as the layer does), zero elsewhere.
    - ENLCA: the random-feature row `phi(q) . phi(k_j) / sum_j phi(q) .
      phi(k_j)` the layer uses, and (`exact`) the `softmax(k cos)` it
      approximates.

    Each layer's input comes from one forward pass of `model` that stops
    once the last wanted layer is reached; the rows come from the layers'
    own weights (stored LSH rotations and projection matrices, inference
    mode) and never form the `(HW, HW)` matrix, so memory stays linear in
    the image size (layers before the mapped ones still run as usual: a
    full NLA layer is quadratic).

    Args:
        model: a Keras model taking NHWC float32 images in [0, 1] (a preset,
            a converted checkpoint, a user's Functional model...).
        image: `(H, W, 3)` (or `(1, H, W, 3)`) image, `uint8` or float in
            [0, 1]: the model's input.
        point: `(x, y)`, the column and row of the query in `image`.
        layer: optional layer, layer name or path (`find_attention_layers`)
            to map only that one.

    Returns:
        A list of `LayerAttention`, one per layer, in the order the model
        calls them.

    Raises:
        InputError: a point outside the image, a model without attention
            layers, an unknown layer name.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    maps = attention_map(model, read_image("facade.png"), point=(120, 64))
    maps[0].weights.shape  # (H, W): the head keeps the input resolution
    ```
    """
    batch = _as_batch(image)
    height, width = batch.shape[1:3]
    try:
        x, y = (int(v) for v in point)
    except (TypeError, ValueError):
        raise InputError(f"point must be (x, y) integers, got {point!r}") from None
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(
            f"point ({x}, {y}) is outside the {width}x{height} image "
            f"(x in 0..{width - 1}, y in 0..{height - 1})."
        )
    chosen = _select(model, layer)
    paths = {id(item[1]): item[0] for item in chosen}
    maps = []
    for attention, inputs in layer_inputs(model, [item[1] for item in chosen], batch):
        path = paths[id(attention)]
        rows, columns = int(inputs.shape[1]), int(inputs.shape[2])
        query = (
            min(columns - 1, x * columns // width),
            min(rows - 1, y * rows // height),
        )
        row = attention_row(attention, inputs, query[1] * columns + query[0])
        exact = row.get("exact")
        maps.append(
            LayerAttention(
                layer=path,
                kind=attention_kind(attention),
                weights=row["weights"].reshape(rows, columns),
                exact=None if exact is None else exact.reshape(rows, columns),
                query=query,
                point=(x, y),
                image_size=(height, width),
            )
        )
    return maps
