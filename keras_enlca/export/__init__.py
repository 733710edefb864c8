"""Export to TFLite, ONNX and SavedModel.

- `export_model(model, out, format, quantize, ...)`: what `enlca export` runs,
  a dispatcher to the format's exporter (`*_exporter.py`).
- `ExportOptions`: every choice of one export, checked once; `TARGETS`: the
  runtimes `--target` offers.
- `convert_to_onnx`: a model to an ONNX `ModelProto` (uint8 I/O).
- `export_saved_model`, `export_tflite` / `convert_to_tflite`: the
  converters (uint8 RGB in, uint8 RGB out, LiteRT builtin ops only).
- `verify_artifact`: PSNR-Y of an export against its Keras model and HR.

Running the exports (the runners, `enlca upscale`, `enlca info`) and
reading their metadata is `keras_enlca.inference`.
"""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module of this package that defines it
EXPORTS = {
    "calibration_crops": "calibration",
    "representative_dataset": "calibration",
    "export_model": "export_model",
    "ExportOptions": "export_options",
    "convert_to_onnx": "onnx_exporter",
    "TARGETS": "targets",
    "export_saved_model": "saved_model",
    "DEFAULT_INT8_FLOAT_OPS": "tflite",
    "convert_to_tflite": "tflite",
    "export_tflite": "tflite",
    "non_builtin_ops": "tflite",
    "tflite_operators": "tflite",
    "UnsupportedOpError": "unsupported_op_error",
    "verify_artifact": "verify",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
