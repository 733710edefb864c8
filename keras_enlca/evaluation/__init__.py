"""Paper-faithful evaluation: MATLAB-convention PSNR/SSIM, chop, tiling, self-ensemble."""

from keras_enlca.evaluation.chop import CHOP_VARIANTS
from keras_enlca.evaluation.chop import forward_chop
from keras_enlca.evaluation.ensemble import self_ensemble
from keras_enlca.evaluation.evaluator import evaluate
from keras_enlca.evaluation.evaluator import predict_fn
from keras_enlca.evaluation.evaluator import upscale_image
from keras_enlca.evaluation.metrics import psnr
from keras_enlca.evaluation.metrics import quantize
from keras_enlca.evaluation.metrics import rgb_to_y
from keras_enlca.evaluation.metrics import ssim
from keras_enlca.evaluation.psnr_metric import PSNR
from keras_enlca.evaluation.report import EvaluationReport
from keras_enlca.evaluation.ssim_metric import SSIM
from keras_enlca.evaluation.tiling import TiledUpscaler
from keras_enlca.evaluation.tiling import upscale_tiled
from keras_enlca.evaluation.scoring import score_folders
