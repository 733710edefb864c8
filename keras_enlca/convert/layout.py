"""State-dict layouts of the reference PyTorch networks, for every family.

`reference_layout` lists every key and shape that the authors' code puts in a
state_dict (EDSR-PyTorch for EDSR, Zj-BinXia/ENLCA for ENLCN,
HarukiYqM/Non-Local-Sparse-Attention for NLSN, haoyuc/A2N for A2N/A2N-M), in
the same insertion order. `infer_hyperparameters` reads the sizes back from
the tensor shapes of a checkpoint, and `check_state_dict` compares a
checkpoint with the layout those sizes imply. What differs between families
lives in their `CheckpointLayout` (`checkpoint_layouts.CHECKPOINT_LAYOUTS`);
this module holds what is common.
"""

import numpy as np

from keras_enlca.convert.checkpoint_layouts import ARCHITECTURES
from keras_enlca.convert.checkpoint_layouts import get_layout
from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.errors import InputError
from keras_enlca.models.registry import get_family


def network_names():
    """The convertible networks' class names for messages:
    `"EDSR, NLSN, ENLCN or A2N"`."""
    names = []
    for arch in ARCHITECTURES:
        name = get_family(arch).model_class.__name__
        if name not in names:
            names.append(name)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def reference_layout(arch, scale, **sizes):
    """Every state_dict key and shape of a reference network, in order.

    Args:
        arch: one of `ARCHITECTURES`: `"edsr"`, `"nlsn"`, `"enlcn"`, `"a2n"`,
            `"a2n-m"`.
        scale: upscaling factor (2, 3 or 4).
        **sizes: the family's sizes (see its layout's `reference_layout`):
            EDSR family `n_resblocks` (32), `n_feats` (256), `reduction` (4),
            `num_random_features` (128); A2N `num_blocks` (16), `features`
            (40), `upsample_features` (24), `adm_reduction` (4),
            `num_branches` (2), `non_attention_kernel_size` (the family's);
            all `n_colors` (3).

    Returns:
        A dict of key to shape tuple with the reference insertion order.

    Example:

    ```python
    layout = reference_layout("enlcn", 4)
    len(layout)  # 177
    layout["body.0.attn_fn.projection_matrix"]  # (128, 64)
    ```
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture {arch!r}; expected one of {ARCHITECTURES}."
        )
    return get_layout(arch).reference_layout(scale, **sizes)


def detect_architecture(state_dict):
    """Guess which reference network wrote `state_dict` from its key names.

    Returns:
        One of `ARCHITECTURES`, or `None` when the keys match none of them.
    """
    for arch in reversed(ARCHITECTURES):
        if get_layout(arch).matches(state_dict):
            return arch
    return None


def infer_hyperparameters(state_dict, arch, scale=None, source="checkpoint"):
    """Read a checkpoint's network sizes from its tensor shapes.

    Checks that `arch` and `scale` agree with the checkpoint and says which
    ones would (a checkpoint of another network or scale is a user error).

    Args:
        state_dict: dict of key to array (see `read_checkpoint`).
        arch: the architecture the user asked for.
        scale: the scale the user asked for, or `None` to take it from the
            shapes (A2N x2 and x3 share one layout and need it).
        source: name of the checkpoint for error messages.

    Returns:
        A dict with `arch`, `scale` and the sizes accepted by
        `reference_layout` (`n_resblocks`, `n_feats`, `rgb_range`,
        `reduction`, `num_random_features` for the EDSR family;
        `num_blocks`, `features`, `upsample_features`, `adm_reduction`,
        `num_branches`, `non_attention_kernel_size` for A2N).

    Raises:
        InputError: `arch` or `scale` does not fit the checkpoint, or the
            sizes cannot be read.
    """
    if arch not in ARCHITECTURES:
        raise InputError(
            f"--arch {arch!r} is not supported; choose one of "
            f"{', '.join(ARCHITECTURES)}."
        )
    if scale is not None and scale not in PUBLISHED_SCALES:
        raise InputError(
            f"--scale {scale} is not supported; the reference networks exist "
            f"for x{', x'.join(str(s) for s in PUBLISHED_SCALES)}."
        )
    detected = detect_architecture(state_dict)
    if detected is None:
        first = ", ".join(list(state_dict)[:4])
        raise InputError(
            f"{source}: not a checkpoint of {network_names()} (its "
            f"first keys are {first or 'none'})."
        )
    if detected != arch:
        raise InputError(
            f"--arch {arch} does not match {source}: its keys are those of "
            f"{get_family(detected).display_name}; pass --arch {detected}."
        )
    return get_layout(arch).infer_hyperparameters(state_dict, scale, source)


def describe(hparams):
    """A short human description, e.g. `ENLCN x4 (32 ResBlocks, 256 features)`."""
    arch = hparams["arch"]
    sizes = get_layout(arch).describe_sizes(hparams)
    return f"{get_family(arch).display_name} x{hparams['scale']} ({sizes})"


def layout_from_hyperparameters(hparams):
    """`reference_layout` for the dict returned by `infer_hyperparameters`."""
    kwargs = {
        k: v for k, v in hparams.items() if k not in ("arch", "scale", "rgb_range")
    }
    return reference_layout(hparams["arch"], hparams["scale"], **kwargs)


def _list(items, limit=6):
    items = list(items)
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f" (and {len(items) - limit} more)"
    return shown


def check_state_dict(
    state_dict, layout, source="checkpoint", description="the reference layout"
):
    """Raise a one-line `InputError` unless `state_dict` matches `layout`.

    The message lists the missing, unexpected and mis-shaped keys (the first
    few of each, with a count of the rest).

    Args:
        state_dict: dict of key to array.
        layout: dict of key to expected shape (`reference_layout`).
        source: name of the checkpoint for the message.
        description: what the layout is, e.g. `"ENLCN x4 (32 ResBlocks,
            256 features)"`.
    """
    missing = [k for k in layout if k not in state_dict]
    unexpected = [k for k in state_dict if k not in layout]
    misshaped = [
        f"{k} {tuple(np.shape(state_dict[k]))} instead of {tuple(layout[k])}"
        for k in layout
        if k in state_dict and tuple(np.shape(state_dict[k])) != tuple(layout[k])
    ]
    if not (missing or unexpected or misshaped):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {_list(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {_list(unexpected)}")
    if misshaped:
        parts.append(f"{len(misshaped)} with the wrong shape: {_list(misshaped, 4)}")
    raise InputError(
        f"{source} does not match {description}: keys " + "; ".join(parts) + "."
    )
