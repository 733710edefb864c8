"""Named configurations of the networks, with the training recipes of the
papers' reference code.

`PRESETS[name] = (class, kwargs)`; `from_preset(name, **overrides)` builds
the network. `RECIPES[name]` holds the training settings the reference used
for that preset (the train command and `training.reference_callbacks` read
them). An "epoch" is `steps_per_epoch` iterations, as in the reference
(`--test_every 1000`).
"""

import copy

from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.errors import InputError
from keras_enlca.models.a2n import A2N
from keras_enlca.models.edsr import EDSR
from keras_enlca.models.enlcn import ENLCN
from keras_enlca.models.nlsn import NLSN


# Small CPU presets: the EDSR-family trunk of 8 blocks x 64 filters (two
# attention modules: body indices 0 and 9), A2N with 4 blocks.
SMALL_EDSR = {"num_blocks": 8, "filters": 64, "res_scale": 0.1, "rgb_range": 1.0}


def _build_presets():
    presets = {}
    for s in PUBLISHED_SCALES:
        paper = {"scale": s, "num_blocks": 32, "filters": 256, "res_scale": 0.1}
        presets[f"edsr_x{s}"] = (EDSR, {**paper, "rgb_range": 255.0})
        presets[f"edsr_baseline_x{s}"] = (
            EDSR,
            {"scale": s, "num_blocks": 16, "filters": 64, "res_scale": 1.0,
             "rgb_range": 255.0},
        )
        presets[f"nlsn_x{s}"] = (
            NLSN,
            {**paper, "rgb_range": 1.0, "attention_every": 8, "n_hashes": 4,
             "chunk_size": 144, "attention_reduction": 4},
        )
        presets[f"enlcn_x{s}"] = (
            ENLCN,
            {**paper, "rgb_range": 1.0, "attention_every": 8,
             "attention_reduction": 4, "num_random_features": 128,
             "amplification": 6.0, "contrastive": "code"},
        )
        presets[f"a2n_x{s}"] = (A2N, {"scale": s})
        presets[f"a2n_m_x{s}"] = (A2N, {"scale": s, "non_attention_kernel_size": 1})
        presets[f"edsr_small_x{s}"] = (EDSR, {"scale": s, **SMALL_EDSR})
        presets[f"nlsn_small_x{s}"] = (
            NLSN, {"scale": s, **SMALL_EDSR, "attention_every": 8}
        )
        presets[f"enlcn_small_x{s}"] = (
            ENLCN, {"scale": s, **SMALL_EDSR, "attention_every": 8}
        )
        presets[f"a2n_small_x{s}"] = (A2N, {"scale": s, "num_blocks": 4})
    return presets


PRESETS = _build_presets()


def _build_recipes():
    recipes = {}
    edsr_family = {
        # EDSR-PyTorch forks: Adam(0.9, 0.999, 1e-8), MultiStepLR(gamma 0.5).
        "learning_rate": 1e-4,
        "batch_size": 16,
        "lr_patch_size": 48,
        "steps_per_epoch": 1000,
        "epochs": 1000,
        "milestones": (200, 400, 600, 800),
        "gamma": 0.5,
        "contrastive_weight": 0.0,
        "contrastive_warmup_epochs": 0,
        "redraw_every_n_steps": None,
    }
    for s in PUBLISHED_SCALES:
        recipes[f"enlcn_x{s}"] = {
            **edsr_family,
            "contrastive_weight": 1e-3,
            "contrastive_warmup_epochs": 101,
            "redraw_every_n_steps": 640,
        }
        recipes[f"nlsn_x{s}"] = dict(edsr_family)
        # Upstream EDSR defaults: 300 epochs, decay at 200.
        recipes[f"edsr_x{s}"] = {**edsr_family, "epochs": 300, "milestones": (200,)}
        recipes[f"edsr_baseline_x{s}"] = recipes[f"edsr_x{s}"]
        a2n = {
            **edsr_family,
            "learning_rate": 5e-4,
            "batch_size": 32,
            "lr_patch_size": 64,
            "epochs": 2000,
            # StepLR(step_size=200, gamma=0.5).
            "milestones": tuple(range(200, 2000, 200)),
        }
        recipes[f"a2n_x{s}"] = a2n
        recipes[f"a2n_m_x{s}"] = a2n
        small = {
            **edsr_family,
            "learning_rate": 2e-4,
            "batch_size": 8,
            "lr_patch_size": 32,
            "steps_per_epoch": 100,
            "epochs": 50,
            "milestones": (20, 40),
        }
        recipes[f"edsr_small_x{s}"] = small
        recipes[f"nlsn_small_x{s}"] = small
        recipes[f"enlcn_small_x{s}"] = {
            **small,
            "contrastive_weight": 1e-3,
            "contrastive_warmup_epochs": 10,
            "redraw_every_n_steps": 640,
        }
        recipes[f"a2n_small_x{s}"] = {**small, "learning_rate": 5e-4}
    return recipes


RECIPES = _build_recipes()


def list_presets():
    """Names of all presets, sorted."""
    return sorted(PRESETS)


def _check_name(name):
    if name not in PRESETS:
        raise InputError(
            f"Unknown preset '{name}'. Available presets: "
            + ", ".join(list_presets())
        )


def preset_config(name):
    """`(class, kwargs)` of a preset (a copy, safe to modify)."""
    _check_name(name)
    cls, kwargs = PRESETS[name]
    return cls, copy.deepcopy(kwargs)


def get_recipe(name):
    """The reference training recipe of a preset (a copy)."""
    _check_name(name)
    return copy.deepcopy(RECIPES[name])


def from_preset(name, **overrides):
    """Build a network from a preset name.

    Args:
        name: str. A name from `list_presets()`, e.g. `"enlcn_x4"`,
            `"a2n_m_x2"`, `"edsr_small_x2"`.
        **overrides: constructor arguments replacing the preset's, e.g.
            `num_blocks=4` or `dtype="mixed_float16"`.

    Returns:
        A `SuperResolutionModel` (untrained weights).

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2", num_blocks=4)
    ```
    """
    cls, kwargs = preset_config(name)
    kwargs.update(overrides)
    return cls(**kwargs)
