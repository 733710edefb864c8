"""Running super-resolution models: one runner for every model format.

- `open_runner(path)`: a `KerasRunner`, `SavedModelRunner`, `LiteRTRunner`
  or `OnnxRunner` (chosen by the format table, `artifact_format`), all
  `ModelRunner` callables NHWC float [0, 1] -> NHWC float [0, 1].
- `ArtifactFormat`, `register_format`: the table of model formats.
- `keras_forward(model)`: a Keras model as a NumPy function (graph mode).
- `upscale_tiled`, `TiledUpscaler`: any image size with bounded memory.
- `upscale_file`, `plan_outputs`: what `enlca upscale` runs.
- `upscale_with_ray`: the same on a Ray cluster, resumable and exactly once
  (`enlca upscale --ray`; `plan_job`, `JobManifest`, `RayUpscaleWorker`).
- `model_info`: what `enlca info` shows.
- `read_artifact_metadata`: the JSON that travels with each export.

The LiteRT and ONNX runners, the tiler, `upscale_file` and `model_info` on a
`.tflite` or `.onnx` import no TensorFlow: they make the TensorFlow-free
runtime installs (no extra; `[onnx]`).
"""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module of this package that defines it
EXPORTS = {
    "ArtifactFormat": "artifact_format",
    "register_format": "artifact_format",
    "KerasRunner": "keras_runner",
    "keras_forward": "keras_runner",
    "load_keras_model": "keras_runner",
    "LiteRTRunner": "litert_runner",
    "SAVED_MODEL_ENTRIES": "loader",
    "load_model_for_eval": "loader",
    "model_format": "loader",
    "open_runner": "loader",
    "FORMATS": "metadata",
    "QUANTIZATIONS": "metadata",
    "metadata_path": "metadata",
    "read_artifact_metadata": "metadata",
    "model_info": "model_info",
    "ModelRunner": "model_runner",
    "OnnxRunner": "onnx_runner",
    "SavedModelRunner": "saved_model_runner",
    "non_builtin_ops": "tflite_flatbuffer",
    "tflite_operators": "tflite_flatbuffer",
    "DEFAULT_TILE": "tiling",
    "TiledUpscaler": "tiling",
    "tile_settings": "tiling",
    "upscale_tiled": "tiling",
    "plan_outputs": "upscale_files",
    "upscale_file": "upscale_files",
    "upscale_image": "upscale_files",
    "JobManifest": "job_manifest",
    "RayUpscaleWorker": "ray_upscale_worker",
    "upscale_with_ray": "ray_upscale",
    "plan_job": "upscale_job",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
