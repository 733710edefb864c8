"""The built-in network families, one `register_family` each.

Presets are named `{preset}_x{scale}` for every published scale. Recipes are
the training settings of the papers' reference code, in `TrainConfig`
vocabulary (dotted keys, as `enlca train` overrides take them); an "epoch"
is `schedule.steps_per_epoch` iterations, as in the reference
(`--test_every 1000`).
"""

from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.layers.efficient_non_local_contrastive_attention import (
    EfficientNonLocalContrastiveAttention,
)
from keras_enlca.layers.non_local_attention import NonLocalAttention
from keras_enlca.layers.non_local_sparse_attention import NonLocalSparseAttention
from keras_enlca.models.a2n import A2N
from keras_enlca.models.edsr import EDSR
from keras_enlca.models.enlcn import ENLCN
from keras_enlca.models.network_family import NetworkFamily
from keras_enlca.models.nlsn import NLSN
from keras_enlca.models.registry import register_attention_layer
from keras_enlca.models.registry import register_family

# The EDSR-family paper trunk: 32 blocks x 256 filters.
PAPER_EDSR = {"num_blocks": 32, "filters": 256, "res_scale": 0.1}
# Small CPU presets: the EDSR-family trunk of 8 blocks x 64 filters (two
# attention modules: body indices 0 and 9), A2N with 4 blocks.
SMALL_EDSR = {"num_blocks": 8, "filters": 64, "res_scale": 0.1, "rgb_range": 1.0}

# EDSR-PyTorch forks (ENLCA, NLSN): Adam(0.9, 0.999, 1e-8), MultiStepLR
# (gamma 0.5) at 200-400-600-800 of 1000 epochs.
EDSR_FAMILY_RECIPE = {
    "schedule.learning_rate": 1e-4,
    "data.batch_size": 16,
    "data.patch_size": 48,
    "schedule.steps_per_epoch": 1000,
    "schedule.epochs": 1000,
    "schedule.decay_milestones": [200, 400, 600, 800],
    "schedule.decay_factor": 0.5,
    "contrastive.weight": 0.0,
    "contrastive.warmup_epochs": 0,
    "schedule.projection_redraw_interval": None,
}
# ENLCA: the contrastive loss after a 101-epoch warm-up, projections
# redrawn every 640 steps.
ENLCN_RECIPE = {
    **EDSR_FAMILY_RECIPE,
    "contrastive.weight": 1e-3,
    "contrastive.warmup_epochs": 101,
    "schedule.projection_redraw_interval": 640,
}
# Upstream EDSR defaults: 300 epochs, decay at 200.
EDSR_RECIPE = {
    **EDSR_FAMILY_RECIPE,
    "schedule.epochs": 300,
    "schedule.decay_milestones": [200],
}
# haoyuc/A2N: lr 5e-4, batch 32, LR patches of 64, StepLR(200, gamma 0.5).
A2N_RECIPE = {
    **EDSR_FAMILY_RECIPE,
    "schedule.learning_rate": 5e-4,
    "data.batch_size": 32,
    "data.patch_size": 64,
    "schedule.epochs": 2000,
    "schedule.decay_milestones": list(range(200, 2000, 200)),
}
# The small CPU presets train in minutes.
SMALL_RECIPE = {
    **EDSR_FAMILY_RECIPE,
    "schedule.learning_rate": 2e-4,
    "data.batch_size": 8,
    "data.patch_size": 32,
    "schedule.steps_per_epoch": 100,
    "schedule.epochs": 50,
    "schedule.decay_milestones": [20, 40],
}


def per_scale(presets):
    """`{f"{name}_x{s}": (kwargs | {"scale": s}, recipe)}` for every published
    scale, from `{name: (kwargs, recipe)}`; returns `(presets, recipes)`."""
    kwargs_by_name, recipes = {}, {}
    for s in PUBLISHED_SCALES:
        for name, (kwargs, recipe) in presets.items():
            kwargs_by_name[f"{name}_x{s}"] = {"scale": s, **kwargs}
            recipes[f"{name}_x{s}"] = dict(recipe)
    return kwargs_by_name, recipes


def _register(name, display_name, model_class, presets, **kwargs):
    presets, recipes = per_scale(presets)
    register_family(
        NetworkFamily(name, display_name, model_class, presets, recipes, **kwargs)
    )


_register(
    "edsr",
    "EDSR",
    EDSR,
    {
        "edsr": ({**PAPER_EDSR, "rgb_range": 255.0}, EDSR_RECIPE),
        "edsr_baseline": (
            {"num_blocks": 16, "filters": 64, "res_scale": 1.0, "rgb_range": 255.0},
            EDSR_RECIPE,
        ),
        "edsr_small": (SMALL_EDSR, SMALL_RECIPE),
    },
)
_register(
    "nlsn",
    "NLSN",
    NLSN,
    {
        "nlsn": (
            {
                **PAPER_EDSR,
                "rgb_range": 1.0,
                "attention_every": 8,
                "n_hashes": 4,
                "chunk_size": 144,
                "attention_reduction": 4,
            },
            EDSR_FAMILY_RECIPE,
        ),
        "nlsn_small": ({**SMALL_EDSR, "attention_every": 8}, SMALL_RECIPE),
    },
    attention_layers=(NonLocalSparseAttention,),
    random_buffer_attributes=("rotations",),
)
_register(
    "enlcn",
    "ENLCN",
    ENLCN,
    {
        "enlcn": (
            {
                **PAPER_EDSR,
                "rgb_range": 1.0,
                "attention_every": 8,
                "attention_reduction": 4,
                "num_random_features": 128,
                "amplification": 6.0,
                "contrastive": "code",
            },
            ENLCN_RECIPE,
        ),
        "enlcn_small": (
            {**SMALL_EDSR, "attention_every": 8},
            {
                **SMALL_RECIPE,
                "contrastive.weight": 1e-3,
                "contrastive.warmup_epochs": 10,
                "schedule.projection_redraw_interval": 640,
            },
        ),
    },
    attention_layers=(EfficientNonLocalContrastiveAttention,),
    random_buffer_attributes=("projection_matrix",),
)
_register(
    "a2n",
    "A2N",
    A2N,
    {
        "a2n": ({}, A2N_RECIPE),
        "a2n_small": (
            {"num_blocks": 4},
            {**SMALL_RECIPE, "schedule.learning_rate": 5e-4},
        ),
    },
    chop_variant="a2n",
)
# A2N-M refines A2N (`family_of` and checkpoint detection try it first).
_register(
    "a2n-m",
    "A2N-M",
    A2N,
    {"a2n_m": ({"non_attention_kernel_size": 1}, A2N_RECIPE)},
    defining_arguments={"non_attention_kernel_size": 1},
    chop_variant="a2n",
)
# The attention layers and their short names (the non-local attention
# baseline is in no built-in network, but in users' ones).
register_attention_layer(NonLocalAttention, "NLA")
register_attention_layer(NonLocalSparseAttention, "NLSA")
register_attention_layer(EfficientNonLocalContrastiveAttention, "ENLCA")
