"""Helpers for the converter tests: reference layouts, random checkpoints."""

import os

import numpy as np
import torch

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
RGB_MEAN = (0.4488, 0.4371, 0.4040)

# Tiny sizes of each network for the numerical comparisons. ENLCN/NLSN with
# 9 ResBlocks have two attention modules (body indices 0 and 9) and the body
# conv at 11, as the reference builds them.
SMALL_SIZES = {
    "edsr": {"n_resblocks": 2, "n_feats": 16},
    "enlcn": {"n_resblocks": 9, "n_feats": 16},
    "nlsn": {"n_resblocks": 9, "n_feats": 16},
    "a2n": {"num_blocks": 2, "features": 12, "upsample_features": 8},
    "a2n-m": {"num_blocks": 2, "features": 12, "upsample_features": 8},
}


def read_layout_file(name):
    """Keys and shapes of a reference state_dict, in insertion order.

    The files were dumped from the authors' code (one `key (shape)` a line).
    """
    layout = {}
    with open(os.path.join(DATA_DIR, f"{name}.txt")) as f:
        for line in f:
            key, shape = line.strip().split(" ", 1)
            layout[key] = tuple(
                int(s) for s in shape.strip("()").split(",") if s.strip()
            )
    return layout


def random_state_dict(layout, rng, rgb_range=1.0):
    """Random float32 torch tensors in a reference layout.

    MeanShift weights are what `common.MeanShift(rgb_range)` holds; conv and
    linear weights are scaled by 1/sqrt(fan_in) so activations stay O(1);
    ENLCA projection matrices are standard normal (chi(64) row norms, as
    `gaussian_orthogonal_random_matrix` gives).
    """
    state_dict = {}
    for key, shape in layout.items():
        if key in ("sub_mean.weight", "add_mean.weight"):
            value = np.eye(3).reshape(3, 3, 1, 1)
        elif key in ("sub_mean.bias", "add_mean.bias"):
            sign = -1.0 if key.startswith("sub") else 1.0
            value = sign * rgb_range * np.asarray(RGB_MEAN)
        elif key.endswith("projection_matrix"):
            value = rng.standard_normal(shape)
        elif len(shape) == 1:
            value = 0.1 * rng.standard_normal(shape)
        else:
            value = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        state_dict[key] = torch.tensor(value, dtype=torch.float32)
    return state_dict


def to_nchw64(images):
    return torch.tensor(np.transpose(images, (0, 3, 1, 2)), dtype=torch.float64)


def to_nhwc(tensor):
    return np.transpose(tensor.detach().numpy(), (0, 2, 3, 1))
