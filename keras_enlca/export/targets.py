"""Export targets: the runtime an export is made for (`enlca export --target`).

One table (`TARGETS`) that `enlca export --target` offers and that
`ExportOptions` applies: each target chooses the fixed input shape
(`--input-size` overrides it), the precision per format (`--quantize`
overrides it) and the op set, and the metadata JSON records the target and
what it chose (`target`, `target_settings`), so that `enlca web`, `enlca
upscale`, `enlca info` and the tiler read the input shape from the file.

Why these defaults (measured or documented runtime limits, see the
export-formats guide):

- `cpu` (default): today's export: any height and width (the runner
  resizes its input; no tiling padding), float32. LiteRT on CPU (XNNPACK),
  ONNX Runtime's CPU provider and TensorFlow all run dynamic shapes.
- `gpu`: a fixed 256x256 input in float16. Android's GPU delegate rejects dynamic
  tensors (tensorflow#47168), so the shape must be fixed; 256 is large enough that the
  tiler's 32-pixel overlaps cost about 31 % extra work (`(256 / 224)**2`; 192 would cost
  44 %, 128 78 %) and small enough for a phone's GPU memory with NLSN/ENLCN attention
  maps. GPU delegates compute in float16 anyway, so float16 weights halve the file at no
  accuracy cost (measured 0.000 dB against float32); int8 would run on the CPU fallback.
- `web`: a fixed 192x192 input (the tiler's default tile,
  `inference.tiling.DEFAULT_TILE`) in int8 for `.tflite`. LiteRT.js runs
  fixed input shapes only (a `[1,-1,-1,3]` input fails in
  `checkTensorBufferCompatible`); its WASM backend ran int8 fastest and
  bit-identical to Python LiteRT. WebGPU has no DEQUANTIZE kernel (float16
  weights fall back to the CPU) nor L2_NORMALIZATION: a WebGPU-first export
  is `--target web --quantize none`. Formats without int8 (ONNX, SavedModel)
  stay float32.

All targets keep the TFLite conversion to builtin ops only (a Flex op is
an error everywhere) and ONNX at opset `ONNX_OPSET`; which ops a given
delegate runs on its accelerator is recorded by the op-compatibility
analysis, not chosen here.
"""

import dataclasses

from keras_enlca.errors import InputError
from keras_enlca.inference.tiling import DEFAULT_TILE

# The ONNX opset of every target: ONNX Runtime 1.16+ (desktop, web, mobile)
# runs it; tf2onnx 1.17 converts every network's ops to it.
ONNX_OPSET = 17
TFLITE_OP_SET = "TFLITE_BUILTINS"


@dataclasses.dataclass(frozen=True)
class Target:
    """A runtime an export is made for.

    Args:
        name: the `--target` spelling.
        description: one line for `--help`.
        input_size: the fixed `(height, width)` of the input, or None for
            any size.
        precision: `{format: quantization}` chosen for each format; a
            format not listed exports in float32 (`"none"`).
    """

    name: str
    description: str
    input_size: tuple | None = None
    precision: dict = dataclasses.field(default_factory=dict)

    def quantization(self, fmt):
        """The quantization this target picks for format `fmt`."""
        return self.precision.get(fmt, "none")

    def settings(self, fmt):
        """What this target chooses for format `fmt` (the metadata's
        `target_settings`)."""
        return {
            "input_size": list(self.input_size) if self.input_size else None,
            "quantization": self.quantization(fmt),
            "op_set": self.op_set(fmt),
        }

    def op_set(self, fmt):
        """The op set of the conversion for format `fmt` (for the metadata)."""
        if fmt == "onnx":
            return f"ai.onnx opset {ONNX_OPSET}"
        if fmt == "tflite":
            return TFLITE_OP_SET
        return "TensorFlow"


TARGETS = {
    target.name: target
    for target in (
        Target(
            name="cpu",
            description="any input size, float32 (CPU runtimes: LiteRT, "
            "ONNX Runtime, TensorFlow)",
        ),
        Target(
            name="gpu",
            description="fixed 256x256 input, float16 (Android GPU delegate, "
            "which rejects dynamic shapes)",
            input_size=(256, 256),
            precision={"tflite": "float16", "onnx": "float16"},
        ),
        Target(
            name="web",
            description=f"fixed {DEFAULT_TILE}x{DEFAULT_TILE} input, int8 .tflite "
            "(LiteRT.js WASM: fixed shapes only, int8 fastest)",
            input_size=(DEFAULT_TILE, DEFAULT_TILE),
            precision={"tflite": "int8"},
        ),
    )
}
DEFAULT_TARGET = "cpu"


def get_target(name, option="--target"):
    """The `Target` called `name`; an `InputError` listing the others."""
    found = TARGETS.get(str(name).lower())
    if found is None:
        raise InputError(f"{option} must be one of {', '.join(TARGETS)}, got {name!r}.")
    return found
