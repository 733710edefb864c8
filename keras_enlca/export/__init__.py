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

from keras_enlca.export.calibration import calibration_crops
from keras_enlca.export.calibration import representative_dataset
from keras_enlca.export.export_model import export_model
from keras_enlca.export.keras_runner import KerasRunner
from keras_enlca.export.litert_runner import LiteRTRunner
from keras_enlca.export.metadata import metadata_path
from keras_enlca.export.metadata import read_artifact_metadata
from keras_enlca.export.model_info import model_info
from keras_enlca.export.model_runner import ModelRunner
from keras_enlca.export.model_runner import model_format
from keras_enlca.export.saved_model import export_saved_model
from keras_enlca.export.saved_model_runner import SavedModelRunner
from keras_enlca.export.tflite import DEFAULT_INT8_FLOAT_OPS
from keras_enlca.export.tflite import QUANTIZATIONS
from keras_enlca.export.tflite import convert_to_tflite
from keras_enlca.export.tflite import export_tflite
from keras_enlca.export.tflite import non_builtin_ops
from keras_enlca.export.tflite import tflite_operators
from keras_enlca.export.unsupported_op_error import UnsupportedOpError
from keras_enlca.export.upscale_files import plan_outputs
from keras_enlca.export.upscale_files import upscale_file
from keras_enlca.export.verify import verify_artifact
