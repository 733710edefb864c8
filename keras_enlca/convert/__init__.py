"""Import the authors' PyTorch checkpoints (EDSR, NLSN, ENLCN, A2N).

PyTorch is optional (`pip install keras-enlca[torch]`) and only imported
when a checkpoint file is read.
"""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module that defines it (loaded on first use)
EXPORTS = {
    "TorchNotInstalledError": "checkpoint",
    "read_checkpoint": "checkpoint",
    "state_dict_to_numpy": "checkpoint",
    "ARCHITECTURES": "checkpoint_layouts",
    "CheckpointLayout": "checkpoint_layout",
    "get_layout": "checkpoint_layouts",
    "check_state_dict": "layout",
    "detect_architecture": "layout",
    "infer_hyperparameters": "layout",
    "reference_layout": "layout",
    "build_model": "torch_checkpoints",
    "convert_checkpoint": "torch_checkpoints",
    "load_torch_state_dict": "torch_checkpoints",
    "conv_kernel": "weights",
    "dense_kernel": "weights",
    "pixel_shuffle_conv": "weights",
    "pixel_shuffle_permutation": "weights",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
