"""Paper-faithful evaluation: MATLAB-convention PSNR/SSIM, chop, self-ensemble."""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module of this package that defines it
EXPORTS = {
    "CHOP_VARIANTS": "chop",
    "forward_chop": "chop",
    "self_ensemble": "ensemble",
    "evaluate": "evaluator",
    "predict_fn": "evaluator",
    "upscale_image": "evaluator",
    "psnr": "metrics",
    "quantize": "metrics",
    "rgb_to_y": "metrics",
    "ssim": "metrics",
    "PSNR": "psnr_metric",
    "EvaluationReport": "report",
    "SSIM": "ssim_metric",
    # The tiler lives in `keras_enlca.inference`; named here too, as the
    # README's evaluation examples use it.
    "TiledUpscaler": "keras_enlca.inference.tiling",
    "upscale_tiled": "keras_enlca.inference.tiling",
    "score_folders": "scoring",
    "comparison_crop": "comparison_crop",
    "comparison_figure": "comparison_figure",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
