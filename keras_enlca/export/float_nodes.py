"""Which ops of an int8 model stay float, found by name in the flatbuffer.

The int8 export (`keras_enlca.export.tflite`) keeps float what cannot live
on one 8-bit scale per tensor: the attention arithmetic (every op of the
attention layers but their convolutions), the layers holding the image at
both ends of the network and the ADD closing each residual block. These
functions name them: Keras layers from the model, TFLite op outputs from
the converted flatbuffer, whose tensor names carry the TensorFlow name
scopes of the layers that made them.
"""

import re

from keras_enlca.export.saved_model import POSTPROCESS_SCOPE
from keras_enlca.export.saved_model import PREPROCESS_SCOPE
from keras_enlca.inference.tflite_flatbuffer import operator_output_names
from keras_enlca.utils.sublayers import sublayers

# Op types inside those layers that stay int8: their embedding convolutions.
QUANTIZED_ATTENTION_OPS = ("CONV_2D",)


def attention_layer_names(model):
    """Names of the attention layers inside `model`: the classes of
    `keras_enlca.models.registry.attention_layer_classes()` (NLA, NLSA,
    ENLCA and those of any registered network family)."""
    from keras_enlca.models.registry import attention_layer_classes

    kinds = attention_layer_classes()
    return [layer.name for layer in sublayers(model) if isinstance(layer, kinds)]


def image_layer_names(model):
    """Names of the layers at both ends of the network that hold the image.

    From the input, every layer whose output still has 3 channels (input
    scaling, EDSR's `sub_mean`) and the layer that reads them (the head
    convolution, 3 -> C channels: EDSR family `head`, A2N `conv_first`);
    walking back from the output, every layer whose output has 3 channels
    (EDSR family: the `tail` conv, `add_mean`, `output_scaling`; A2N:
    `conv_last`, the bilinear skip, `skip_add`, `output_scaling`), up to
    the first layer with more channels.

    The head convolution joined the list when it measured: kept float, it
    takes 0.023 dB off the int8 drop of the authors' A2N x3 and 0.016 dB
    off a converged ENLCN, for 3 input channels' worth of compute.
    """

    def three_channels(layer):
        shape = getattr(layer.output, "shape", None)
        return shape is not None and shape[-1] == 3

    layers = _top_level_layers(model)
    head = []
    for layer in layers:
        head.append(layer.name)
        if not three_channels(layer):
            break  # the layer reading the image
    tail = []
    for layer in reversed(layers):
        if not three_channels(layer) or layer.name in head:
            break
        tail.append(layer.name)
    return head + tail[::-1]


def residual_add_nodes(content, layer_names):
    """`{layer: output tensor name}` of the ADD ops that end a layer of
    `layer_names`.

    These are the residual stream of the trunk: a block's output is its
    input plus its branch (A2N's `aab_<n>/add_1`, EDSR's ResBlock add and
    `body_skip`, A2N's `trunk_skip`). Kept float, the stream is no longer
    rounded to 8 bits after every block (16 times in A2N); only each
    branch's own input and output are. The float ADD costs a QUANTIZE and
    a DEQUANTIZE per block at low resolution.
    """
    from keras_enlca.export.float_fallback import layer_nodes

    kinds = {name: op for op, name in operator_output_names(content)}
    return {
        layer: nodes[-1]
        for layer, nodes in layer_nodes(content, layer_names).items()
        if nodes and kinds.get(nodes[-1]) == "ADD"
    }


def float_node_names(
    content, layer_names, scopes=(PREPROCESS_SCOPE, POSTPROCESS_SCOPE), whole_layers=()
):
    """Output tensor names of the ops to keep in float in an int8 model.

    Every op but the convolutions whose name lies inside one of the Keras
    layers `layer_names`, every op of the layers `whole_layers`, and every
    op inside the name `scopes`. TFLite tensor names carry the TensorFlow
    name scopes (`enlcn_1/body_0_1/Exp`; fused ops join several names with
    `;`), where Keras suffixes each layer's scope with `_<n>`.
    """

    def compile_all(names):
        return [re.compile(rf"(^|/){re.escape(name)}(_\d+)?/") for name in names]

    partial = compile_all(layer_names)
    whole = compile_all(list(whole_layers) + list(scopes))
    nodes = []
    for op, name in operator_output_names(content):
        if op in ("QUANTIZE", "DEQUANTIZE"):
            continue
        parts = name.split(";")
        in_whole = any(p.search(part) for p in whole for part in parts)
        in_partial = any(p.search(part) for p in partial for part in parts)
        if in_whole or (in_partial and op not in QUANTIZED_ATTENTION_OPS):
            nodes.append(name)
    return nodes


def _top_level_layers(model):
    import keras

    return [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def top_level_layer_names(model):
    """Names of the model's own layers (the fallback's candidates)."""
    return [layer.name for layer in _top_level_layers(model)]
