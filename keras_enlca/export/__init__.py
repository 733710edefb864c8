"""Export to SavedModel and TFLite, and one runner for every model format.

- `export_model(model, out, format, quantize, ...)`: what `enlca export` runs.
- `export_saved_model`, `export_tflite` / `convert_to_tflite`: the
  converters (uint8 RGB in, uint8 RGB out, LiteRT builtin ops only).
- `ModelRunner.load(path)`: a `KerasRunner`, `SavedModelRunner` or
  `LiteRTRunner`, all callables NHWC float [0, 1] -> NHWC float [0, 1].
- `verify_artifact`: PSNR-Y of an export against its Keras model and HR.
- `upscale_file`, `plan_outputs`: what `enlca upscale` runs.
- `read_artifact_metadata`: the JSON that travels with each export.
"""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module of this package that defines it
EXPORTS = {
    "calibration_crops": "calibration",
    "representative_dataset": "calibration",
    "export_model": "export_model",
    "KerasRunner": "keras_runner",
    "LiteRTRunner": "litert_runner",
    "metadata_path": "metadata",
    "read_artifact_metadata": "metadata",
    "model_info": "model_info",
    "ModelRunner": "model_runner",
    "model_format": "model_runner",
    "export_saved_model": "saved_model",
    "SavedModelRunner": "saved_model_runner",
    "DEFAULT_INT8_FLOAT_OPS": "tflite",
    "FORMATS": "metadata",
    "QUANTIZATIONS": "metadata",
    "convert_to_tflite": "tflite",
    "export_tflite": "tflite",
    "non_builtin_ops": "tflite",
    "tflite_operators": "tflite",
    "UnsupportedOpError": "unsupported_op_error",
    "plan_outputs": "upscale_files",
    "upscale_file": "upscale_files",
    "verify_artifact": "verify",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
