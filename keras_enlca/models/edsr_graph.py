"""The EDSR trunk shared by `EDSR`, `NLSN` and `ENLCN`."""

import keras

from keras_enlca.layers.mean_shift import MeanShift
from keras_enlca.layers.residual_block import ResidualBlock
from keras_enlca.layers.upsampler import Upsampler
from keras_enlca.layers.upsampler import upsampler_stages


def attention_body_indices(num_blocks, attention_every):
    """Body indices of the attention modules in an NLSN/ENLCN body.

    One module comes first and one after every `attention_every` residual
    blocks; 32 blocks with `attention_every=8` give `[0, 9, 18, 27, 36]`.
    """
    indices = [0]
    index = 1
    for block in range(num_blocks):
        index += 1
        if (block + 1) % attention_every == 0:
            indices.append(index)
            index += 1
    return indices


def build_edsr_graph(
    scale,
    num_blocks,
    filters,
    res_scale,
    rgb_range,
    dtype=None,
    attention_every=None,
    make_attention=None,
):
    """Create the layers and the functional graph of an EDSR-family network.

    Returns `(inputs, outputs, layers)` with `layers` a dict of the named
    layers (`body` is the list of body layers in reference order).
    """
    upsampler_stages(scale)  # Validates the scale.
    if num_blocks < 1:
        raise ValueError(f"`num_blocks` must be >= 1. Received: {num_blocks}")
    if filters < 1:
        raise ValueError(f"`filters` must be >= 1. Received: {filters}")
    if rgb_range <= 0:
        raise ValueError(f"`rgb_range` must be > 0. Received: {rgb_range}")
    if make_attention is not None and (attention_every is None or attention_every < 1):
        raise ValueError(f"`attention_every` must be >= 1. Received: {attention_every}")

    layers = {}
    layers["input_scaling"] = keras.layers.Rescaling(
        rgb_range, dtype=dtype, name="input_scaling"
    )
    layers["sub_mean"] = MeanShift(rgb_range, sign=-1, dtype=dtype, name="sub_mean")
    layers["head"] = keras.layers.Conv2D(
        filters, 3, padding="same", dtype=dtype, name="head"
    )
    body = []
    attention = []

    def add_attention():
        layer = make_attention(f"body_{len(body)}")
        body.append(layer)
        attention.append(layer)

    if make_attention is not None:
        add_attention()
    for block in range(num_blocks):
        body.append(
            ResidualBlock(
                filters, 3, res_scale=res_scale, dtype=dtype, name=f"body_{len(body)}"
            )
        )
        if make_attention is not None and (block + 1) % attention_every == 0:
            add_attention()
    layers["body"] = body
    layers["attention"] = attention
    layers["body_conv"] = keras.layers.Conv2D(
        filters, 3, padding="same", dtype=dtype, name="body_conv"
    )
    layers["body_skip"] = keras.layers.Add(dtype=dtype, name="body_skip")
    layers["upsampler"] = Upsampler(scale, filters, dtype=dtype, name="upsampler")
    layers["tail"] = keras.layers.Conv2D(3, 3, padding="same", dtype=dtype, name="tail")
    # The model boundary is float32 whatever the policy (mixed_float16).
    layers["add_mean"] = MeanShift(rgb_range, sign=1, dtype="float32", name="add_mean")
    layers["output_scaling"] = keras.layers.Rescaling(
        1.0 / rgb_range, dtype="float32", name="output_scaling"
    )

    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name="lr_image")
    x = layers["sub_mean"](layers["input_scaling"](inputs))
    x = layers["head"](x)
    res = x
    for layer in body:
        res = layer(res)
    res = layers["body_conv"](res)
    x = layers["body_skip"]([res, x])
    x = layers["tail"](layers["upsampler"](x))
    outputs = layers["output_scaling"](layers["add_mean"](x))
    return inputs, outputs, layers
