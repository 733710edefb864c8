from keras_enlca.errors import InputError


class UnsupportedOpError(InputError):
    """A TFLite export needs an op that is not a LiteRT builtin.

    Raised instead of producing a model that would need the Flex (select TF
    ops) delegate or a custom op, which the LiteRT interpreter of a phone
    does not have. The message names every offending op and, when the
    converter reports it, where in the network it sits.

    Args:
        source: str. The model being exported (a path or a name), used in
            the message.
        ops: list of str. The offending ops, e.g. `"tf.ResizeBicubic"` or
            `"FlexErfinv"`.
        locations: optional dict mapping an op to where it occurs (the
            TensorFlow node name, which carries the Keras layer path).

    Example:

    ```python
    try:
        export_tflite(model, "model.tflite")
    except UnsupportedOpError as error:
        print(error.ops)  # ["tf.ResizeBicubic"]
    ```
    """

    def __init__(self, source, ops, locations=None):
        self.source = source
        self.ops = list(ops)
        self.locations = dict(locations or {})
        described = ", ".join(
            f"{op} (at {self.locations[op]})" if self.locations.get(op) else op
            for op in self.ops
        )
        super().__init__(
            f"{source}: cannot export to TFLite with builtin ops only; these ops "
            f"would need the Flex delegate or custom kernels: {described}. "
            f"{_hint(self.ops)}"
        )


def _hint(ops):
    """What to change in the network, for the ops that are there."""
    text = " ".join(ops).lower()
    if "bicubic" in text:
        return (
            "Replace the bicubic resize (e.g. UpSampling2D or Resizing with "
            "interpolation='bicubic') by 'bilinear' or 'nearest', or a "
            "pixel shuffle."
        )
    if "scaleandtranslate" in text or "antialias" in text:
        return "Resize without antialias=True in the network."
    return "Replace the layers named above by ones built from LiteRT builtin ops."
