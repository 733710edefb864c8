"""State-dict layouts of the reference PyTorch networks.

`reference_layout` lists every key and shape that the authors' code puts in a
state_dict (EDSR-PyTorch for EDSR, Zj-BinXia/ENLCA for ENLCN,
HarukiYqM/Non-Local-Sparse-Attention for NLSN, haoyuc/A2N for A2N/A2N-M), in
the same insertion order. `infer_hyperparameters` reads the sizes back from
the tensor shapes of a checkpoint, and `check_state_dict` compares a
checkpoint with the layout those sizes imply.
"""

import re

import numpy as np

from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.errors import InputError

ARCHITECTURES = ("edsr", "nlsn", "enlcn", "a2n", "a2n-m")
EDSR_FAMILY = ("edsr", "nlsn", "enlcn")

# `common.MeanShift` of EDSR-PyTorch: bias = sign * rgb_range * mean / std.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
# ENLCN/NLSN insert an attention module before the first ResBlock and after
# every 8th one (`(i + 1) % 8 == 0` in enlcn.py / nlsn.py).
ATTENTION_INTERVAL = 8

DISPLAY_NAMES = {
    "edsr": "EDSR",
    "nlsn": "NLSN",
    "enlcn": "ENLCN",
    "a2n": "A2N",
    "a2n-m": "A2N-M",
}


def _conv(prefix, out_channels, in_channels, kernel_size, bias=True):
    layout = {f"{prefix}.weight": (out_channels, in_channels, kernel_size, kernel_size)}
    if bias:
        layout[f"{prefix}.bias"] = (out_channels,)
    return layout


def upsampler_stages(scale):
    """Sub-pixel stages of `common.Upsampler`: list of (conv index, factor)."""
    if scale == 3:
        return [(0, 3)]
    if scale in (2, 4, 8):
        return [(2 * i, 2) for i in range(int(np.log2(scale)))]
    raise ValueError(f"Unsupported scale {scale}.")


def body_layout(n_resblocks, with_attention):
    """The reference `body` list: ('attention' | 'resblock' | 'conv', index).

    EDSR: ResBlocks 0..R-1, conv R. ENLCN/NLSN: an attention module first
    and after every 8th ResBlock, then the conv (indices 0, 9, 18, 27, 36 and
    37 for R = 32).
    """
    kinds = ["attention"] if with_attention else []
    for i in range(n_resblocks):
        kinds.append("resblock")
        if with_attention and (i + 1) % ATTENTION_INTERVAL == 0:
            kinds.append("attention")
    kinds.append("conv")
    return list(enumerate(kinds))


def reference_layout(
    arch,
    scale,
    n_resblocks=None,
    n_feats=None,
    reduction=4,
    num_random_features=128,
    num_blocks=16,
    features=40,
    upsample_features=24,
    adm_reduction=4,
    num_branches=2,
    non_attention_kernel_size=None,
    n_colors=3,
):
    """Every state_dict key and shape of a reference network, in order.

    Args:
        arch: one of `"edsr"`, `"nlsn"`, `"enlcn"`, `"a2n"`, `"a2n-m"`.
        scale: upscaling factor (2, 3 or 4).
        n_resblocks: EDSR-family ResBlocks (default 32).
        n_feats: EDSR-family features (default 256).
        reduction: attention channel reduction (ENLCN/NLSN).
        num_random_features: rows of the ENLCA projection matrix.
        num_blocks: A2N attention-in-attention blocks (16 in the reference).
        features: A2N trunk features (40).
        upsample_features: A2N upsampling features (24).
        adm_reduction: A2N attention dropout module reduction (4).
        num_branches: A2N ADM outputs, K (2).
        non_attention_kernel_size: A2N non-attention conv size: 3 (A2N) or
            1 (A2N-M). Defaults to the one of `arch`.
        n_colors: image channels (3).

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
    layout = {}
    if arch in EDSR_FAMILY:
        n_resblocks = 32 if n_resblocks is None else n_resblocks
        n_feats = 256 if n_feats is None else n_feats
        f = n_feats
        layout.update(_conv("sub_mean", n_colors, n_colors, 1))
        layout.update(_conv("add_mean", n_colors, n_colors, 1))
        layout.update(_conv("head.0", f, n_colors, 3))
        for index, kind in body_layout(n_resblocks, arch != "edsr"):
            if kind == "resblock":
                layout.update(_conv(f"body.{index}.body.0", f, f, 3))
                layout.update(_conv(f"body.{index}.body.2", f, f, 3))
            elif kind == "conv":
                layout.update(_conv(f"body.{index}", f, f, 3))
            elif arch == "enlcn":
                c = f // reduction
                layout.update(_conv(f"body.{index}.conv_match1.0", c, f, 1))
                layout.update(_conv(f"body.{index}.conv_match2.0", c, f, 1))
                layout.update(_conv(f"body.{index}.conv_assembly.0", f, f, 1))
                layout[f"body.{index}.attn_fn.projection_matrix"] = (
                    num_random_features,
                    c,
                )
            else:
                layout.update(_conv(f"body.{index}.conv_match.0", f // reduction, f, 3))
                layout.update(_conv(f"body.{index}.conv_assembly.0", f, f, 1))
        for conv_index, factor in upsampler_stages(scale):
            layout.update(_conv(f"tail.0.{conv_index}", factor * factor * f, f, 3))
        layout.update(_conv("tail.1", n_colors, f, 3))
        return layout

    if non_attention_kernel_size is None:
        non_attention_kernel_size = 1 if arch == "a2n-m" else 3
    nf, unf = features, upsample_features
    layout.update(_conv("conv_first", nf, n_colors, 3))
    for i in range(num_blocks):
        p = f"AAB_trunk.{i}"
        layout.update(_conv(f"{p}.conv_first", nf, nf, 1, bias=False))
        layout.update(_conv(f"{p}.conv_last", nf, nf, 1, bias=False))
        layout[f"{p}.ADM.0.weight"] = (nf // adm_reduction, nf)
        layout[f"{p}.ADM.2.weight"] = (num_branches, nf // adm_reduction)
        layout.update(_conv(f"{p}.attention.k1", nf, nf, 3, bias=False))
        layout.update(_conv(f"{p}.attention.k2", nf, nf, 1))
        layout.update(_conv(f"{p}.attention.k3", nf, nf, 3, bias=False))
        layout.update(_conv(f"{p}.attention.k4", nf, nf, 3, bias=False))
        layout.update(
            _conv(f"{p}.non_attention", nf, nf, non_attention_kernel_size, bias=False)
        )
    layout.update(_conv("trunk_conv", nf, nf, 3))
    layout.update(_conv("upconv1", unf, nf, 3))
    layout.update(_conv("att1.conv", unf, unf, 1))
    layout.update(_conv("HRconv1", unf, unf, 3))
    if scale == 4:
        layout.update(_conv("upconv2", unf, unf, 3))
        layout.update(_conv("att2.conv", unf, unf, 1))
        layout.update(_conv("HRconv2", unf, unf, 3))
    layout.update(_conv("conv_last", n_colors, unf, 3))
    return layout


def detect_architecture(state_dict):
    """Guess which reference network wrote `state_dict` from its key names.

    Returns:
        One of `ARCHITECTURES`, or `None` when the keys match none of them.
    """
    keys = set(state_dict)
    if any(k.startswith("AAB_trunk.") for k in keys):
        for key in sorted(keys):
            if key.startswith("AAB_trunk.") and key.endswith(".non_attention.weight"):
                return "a2n-m" if np.shape(state_dict[key])[-1] == 1 else "a2n"
        return "a2n"
    if any(re.match(r"body\.\d+\.conv_match1\.", k) for k in keys):
        return "enlcn"
    if any(re.match(r"body\.\d+\.conv_match\.", k) for k in keys):
        return "nlsn"
    if any(re.match(r"body\.\d+\.body\.0\.weight$", k) for k in keys) or (
        "head.0.weight" in keys and "tail.1.weight" in keys
    ):
        return "edsr"
    return None


def _first_shape(state_dict, candidates, axis=0):
    for key in candidates:
        if key in state_dict and np.ndim(state_dict[key]) > axis:
            return int(np.shape(state_dict[key])[axis]), key
    return None, None


def _scale_error(source, requested, found, reason):
    return InputError(
        f"--scale {requested} does not match {source}: {reason}, so the "
        f"checkpoint is x{found}; pass --scale {found}."
    )


def _rgb_range_from_mean_shift(state_dict, source):
    bias = state_dict.get("sub_mean.bias")
    if bias is None or np.shape(bias) != (3,):
        return None
    ratio = -np.asarray(bias, np.float64) / np.asarray(RGB_MEAN)
    for rgb_range in (1, 255):
        if np.allclose(ratio, rgb_range, rtol=1e-3):
            return rgb_range
    raise InputError(
        f"{source}: sub_mean.bias = {np.round(np.asarray(bias), 4).tolist()} is "
        "not the EDSR mean shift -rgb_range*(0.4488, 0.4371, 0.4040) for "
        "rgb_range 1 or 255."
    )


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
            f"{source}: not a checkpoint of EDSR, NLSN, ENLCN or A2N (its "
            f"first keys are {first or 'none'})."
        )
    if detected != arch:
        raise InputError(
            f"--arch {arch} does not match {source}: its keys are those of "
            f"{DISPLAY_NAMES[detected]}; pass --arch {detected}."
        )
    if arch in EDSR_FAMILY:
        return _infer_edsr_family(state_dict, arch, scale, source)
    return _infer_a2n(state_dict, arch, scale, source)


def _infer_edsr_family(state_dict, arch, scale, source):
    body_indices = {}
    for key in state_dict:
        match = re.match(r"body\.(\d+)\.body\.0\.weight$", key)
        if match:
            body_indices[int(match.group(1))] = key
    n_resblocks = len(body_indices)
    n_feats, _ = _first_shape(
        state_dict, ["head.0.weight"] + [body_indices[i] for i in sorted(body_indices)]
    )
    if n_feats is None:
        n_feats, _ = _first_shape(state_dict, ["tail.1.weight"], axis=1)
    if n_feats is None:
        raise InputError(
            f"{source}: cannot read the number of features (no head.0.weight)."
        )

    found_scale = None
    if "tail.0.0.weight" in state_dict:
        out_channels = int(np.shape(state_dict["tail.0.0.weight"])[0])
        ratio = out_channels / n_feats
        if ratio == 9:
            found_scale, reason = 3, f"tail.0.0.weight has 9*{n_feats} output channels"
        elif ratio == 4:
            if "tail.0.2.weight" in state_dict:
                found_scale = 4
                reason = "it has two x2 sub-pixel stages (tail.0.0 and tail.0.2)"
            else:
                found_scale = 2
                reason = "it has one x2 sub-pixel stage (tail.0.0, no tail.0.2)"
        if found_scale is not None and scale is not None and scale != found_scale:
            raise _scale_error(source, scale, found_scale, reason)
    if scale is None:
        if found_scale is None:
            raise InputError(
                f"{source}: cannot read the scale from tail.0.0.weight; pass --scale."
            )
        scale = found_scale

    hparams = {
        "arch": arch,
        "scale": scale,
        "n_resblocks": n_resblocks,
        "n_feats": n_feats,
        "rgb_range": _rgb_range_from_mean_shift(state_dict, source),
    }
    if arch != "edsr":
        key = "conv_match1.0.weight" if arch == "enlcn" else "conv_match.0.weight"
        channels, _ = _first_shape(
            state_dict,
            sorted(k for k in state_dict if k.endswith(key)),
        )
        hparams["reduction"] = max(1, n_feats // channels) if channels else 4
        if arch == "enlcn":
            rows, _ = _first_shape(
                state_dict,
                sorted(
                    k for k in state_dict if k.endswith("attn_fn.projection_matrix")
                ),
            )
            hparams["num_random_features"] = rows or 128
    return hparams


def _infer_a2n(state_dict, arch, scale, source):
    blocks = {
        int(m.group(1))
        for m in (re.match(r"AAB_trunk\.(\d+)\.", k) for k in state_dict)
        if m
    }
    features, _ = _first_shape(state_dict, ["conv_first.weight", "trunk_conv.weight"])
    upsample_features, _ = _first_shape(
        state_dict, ["upconv1.weight", "conv_last.weight"], 0
    )
    if "upconv1.weight" not in state_dict and "conv_last.weight" in state_dict:
        upsample_features = int(np.shape(state_dict["conv_last.weight"])[1])
    if features is None or upsample_features is None:
        raise InputError(
            f"{source}: cannot read the A2N feature sizes (no conv_first.weight "
            "or upconv1.weight)."
        )
    adm_hidden, _ = _first_shape(
        state_dict, sorted(k for k in state_dict if k.endswith(".ADM.0.weight"))
    )
    num_branches, _ = _first_shape(
        state_dict, sorted(k for k in state_dict if k.endswith(".ADM.2.weight"))
    )
    has_second_stage = "upconv2.weight" in state_dict
    if scale is None:
        if not has_second_stage:
            raise InputError(
                f"{source}: A2N x2 and x3 checkpoints have the same layout; "
                "pass --scale 2 or --scale 3."
            )
        scale = 4
    elif scale == 4 and not has_second_stage:
        raise InputError(
            f"--scale 4 does not match {source}: it has one upsampling stage "
            "(no upconv2), so the checkpoint is x2 or x3; pass --scale 2 or 3."
        )
    elif scale != 4 and has_second_stage:
        raise _scale_error(
            source, scale, 4, "it has two upsampling stages (upconv1 and upconv2)"
        )
    return {
        "arch": arch,
        "scale": scale,
        "num_blocks": len(blocks),
        "features": features,
        "upsample_features": upsample_features,
        "adm_reduction": max(1, features // adm_hidden) if adm_hidden else 4,
        "num_branches": num_branches or 2,
        "non_attention_kernel_size": 1 if arch == "a2n-m" else 3,
    }


def describe(hparams):
    """A short human description, e.g. `ENLCN x4 (32 ResBlocks, 256 features)`."""
    name = DISPLAY_NAMES[hparams["arch"]]
    if hparams["arch"] in EDSR_FAMILY:
        sizes = f"{hparams['n_resblocks']} ResBlocks, {hparams['n_feats']} features"
    else:
        sizes = f"{hparams['num_blocks']} blocks, {hparams['features']} features"
    return f"{name} x{hparams['scale']} ({sizes})"


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
