"""The checkpoint layout of EDSR, NLSN and ENLCN (one EDSR-PyTorch trunk).

EDSR-PyTorch for EDSR, HarukiYqM/Non-Local-Sparse-Attention for NLSN and
Zj-BinXia/ENLCA for ENLCN: `sub_mean`, `add_mean`, `head.0`, the `body`
list (ResBlocks, attention modules for NLSN/ENLCN, a conv) and the `tail`
(`common.Upsampler` + a conv).
"""

import re

import numpy as np

from keras_enlca.convert.checkpoint_layout import CheckpointLayout
from keras_enlca.convert.checkpoint_layout import conv_entry
from keras_enlca.convert.checkpoint_layout import conv_pairs
from keras_enlca.convert.checkpoint_layout import first_shape
from keras_enlca.convert.checkpoint_layout import scale_error
from keras_enlca.convert.weights import pixel_shuffle_conv
from keras_enlca.errors import InputError
from keras_enlca.layers.upsampler import upsampler_stages

# `common.MeanShift` of EDSR-PyTorch: bias = sign * rgb_range * mean / std.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
# ENLCN/NLSN insert an attention module before the first ResBlock and after
# every 8th one (`(i + 1) % 8 == 0` in enlcn.py / nlsn.py).
ATTENTION_INTERVAL = 8


def tail_stages(scale):
    """Sub-pixel stages of `common.Upsampler` (`tail.0`): (conv index, factor)."""
    return [(2 * i, factor) for i, factor in enumerate(upsampler_stages(scale))]


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


def default_res_scale(arch, n_feats):
    """Residual scaling the reference training used (not stored in weights).

    ENLCN and NLSN are trained with `--res_scale 0.1`; EDSR uses 0.1 for the
    paper model (256 features) and 1.0 for the baseline (64 features).
    """
    if arch in ("nlsn", "enlcn"):
        return 0.1
    return 0.1 if n_feats >= 256 else 1.0


def rgb_range_from_mean_shift(state_dict, source):
    """The training range (1 or 255) read from `sub_mean.bias`, or `None`."""
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


class EdsrFamilyLayout(CheckpointLayout):
    """The state_dict layout of EDSR, NLSN and ENLCN checkpoints.

    The three share the EDSR trunk; NLSN and ENLCN add an attention module
    before the first ResBlock and after every 8th (`body.{i}.conv_match.0`
    and `conv_assembly.0` for NLSN; `conv_match1.0`, `conv_match2.0`,
    `conv_assembly.0` and the `attn_fn.projection_matrix` buffer for ENLCN).

    Args:
        name: `"edsr"`, `"nlsn"` or `"enlcn"`.

    Example:

    ```python
    layout = EdsrFamilyLayout("enlcn").reference_layout(4)
    layout["body.0.attn_fn.projection_matrix"]  # (128, 64)
    ```
    """

    def matches(self, state_dict):
        keys = set(state_dict)
        if self.name == "enlcn":
            return any(re.match(r"body\.\d+\.conv_match1\.", k) for k in keys)
        if self.name == "nlsn":
            return any(re.match(r"body\.\d+\.conv_match\.", k) for k in keys)
        return any(re.match(r"body\.\d+\.body\.0\.weight$", k) for k in keys) or (
            "head.0.weight" in keys and "tail.1.weight" in keys
        )

    def reference_layout(
        self,
        scale,
        n_resblocks=None,
        n_feats=None,
        reduction=4,
        num_random_features=128,
        n_colors=3,
    ):
        """Every state_dict key and shape, in order.

        Args:
            scale: upscaling factor (2, 3 or 4).
            n_resblocks: ResBlocks (default 32).
            n_feats: features (default 256).
            reduction: attention channel reduction (ENLCN/NLSN).
            num_random_features: rows of the ENLCA projection matrix.
            n_colors: image channels (3).
        """
        n_resblocks = 32 if n_resblocks is None else n_resblocks
        f = 256 if n_feats is None else n_feats
        layout = {}
        layout.update(conv_entry("sub_mean", n_colors, n_colors, 1))
        layout.update(conv_entry("add_mean", n_colors, n_colors, 1))
        layout.update(conv_entry("head.0", f, n_colors, 3))
        for index, kind in body_layout(n_resblocks, self.name != "edsr"):
            if kind == "resblock":
                layout.update(conv_entry(f"body.{index}.body.0", f, f, 3))
                layout.update(conv_entry(f"body.{index}.body.2", f, f, 3))
            elif kind == "conv":
                layout.update(conv_entry(f"body.{index}", f, f, 3))
            elif self.name == "enlcn":
                c = f // reduction
                layout.update(conv_entry(f"body.{index}.conv_match1.0", c, f, 1))
                layout.update(conv_entry(f"body.{index}.conv_match2.0", c, f, 1))
                layout.update(conv_entry(f"body.{index}.conv_assembly.0", f, f, 1))
                layout[f"body.{index}.attn_fn.projection_matrix"] = (
                    num_random_features,
                    c,
                )
            else:
                layout.update(
                    conv_entry(f"body.{index}.conv_match.0", f // reduction, f, 3)
                )
                layout.update(conv_entry(f"body.{index}.conv_assembly.0", f, f, 1))
        for conv_index, factor in tail_stages(scale):
            layout.update(conv_entry(f"tail.0.{conv_index}", factor * factor * f, f, 3))
        layout.update(conv_entry("tail.1", n_colors, f, 3))
        return layout

    def infer_hyperparameters(self, state_dict, scale, source):
        body_indices = {}
        for key in state_dict:
            match = re.match(r"body\.(\d+)\.body\.0\.weight$", key)
            if match:
                body_indices[int(match.group(1))] = key
        n_resblocks = len(body_indices)
        n_feats, _ = first_shape(
            state_dict,
            ["head.0.weight"] + [body_indices[i] for i in sorted(body_indices)],
        )
        if n_feats is None:
            n_feats, _ = first_shape(state_dict, ["tail.1.weight"], axis=1)
        if n_feats is None:
            raise InputError(
                f"{source}: cannot read the number of features (no head.0.weight)."
            )

        found_scale = None
        if "tail.0.0.weight" in state_dict:
            out_channels = int(np.shape(state_dict["tail.0.0.weight"])[0])
            ratio = out_channels / n_feats
            if ratio == 9:
                found_scale = 3
                reason = f"tail.0.0.weight has 9*{n_feats} output channels"
            elif ratio == 4:
                if "tail.0.2.weight" in state_dict:
                    found_scale = 4
                    reason = "it has two x2 sub-pixel stages (tail.0.0 and tail.0.2)"
                else:
                    found_scale = 2
                    reason = "it has one x2 sub-pixel stage (tail.0.0, no tail.0.2)"
            if found_scale is not None and scale is not None and scale != found_scale:
                raise scale_error(source, scale, found_scale, reason)
        if scale is None:
            if found_scale is None:
                raise InputError(
                    f"{source}: cannot read the scale from tail.0.0.weight; "
                    "pass --scale."
                )
            scale = found_scale

        hparams = {
            "arch": self.name,
            "scale": scale,
            "n_resblocks": n_resblocks,
            "n_feats": n_feats,
            "rgb_range": rgb_range_from_mean_shift(state_dict, source),
        }
        if self.name != "edsr":
            key = "conv_match.0.weight"
            if self.name == "enlcn":
                key = "conv_match1.0.weight"
            channels, _ = first_shape(
                state_dict, sorted(k for k in state_dict if k.endswith(key))
            )
            hparams["reduction"] = max(1, n_feats // channels) if channels else 4
            if self.name == "enlcn":
                rows, _ = first_shape(
                    state_dict,
                    sorted(
                        k for k in state_dict if k.endswith("attn_fn.projection_matrix")
                    ),
                )
                hparams["num_random_features"] = rows or 128
        return hparams

    def describe_sizes(self, hparams):
        return f"{hparams['n_resblocks']} ResBlocks, {hparams['n_feats']} features"

    def model_arguments(self, hparams, res_scale=None):
        if res_scale is None:
            res_scale = default_res_scale(self.name, hparams["n_feats"])
        kwargs = {
            "scale": hparams["scale"],
            "num_blocks": hparams["n_resblocks"],
            "filters": hparams["n_feats"],
            "res_scale": float(res_scale),
            "rgb_range": float(hparams["rgb_range"]),
        }
        if self.name == "enlcn":
            kwargs["attention_reduction"] = hparams["reduction"]
            kwargs["num_random_features"] = hparams["num_random_features"]
        elif self.name == "nlsn":
            kwargs["attention_reduction"] = hparams["reduction"]
        return kwargs

    def extra_mismatches(self, config):
        if self.name != "edsr" and config.get("attention_every", 8) != 8:
            return [f"attention_every={config['attention_every']} (checkpoint: 8)"]
        return []

    def assignments(self, model, state_dict, hparams):
        sd = state_dict
        pairs = []
        for name in ("sub_mean", "add_mean"):
            pairs += conv_pairs(model.get_layer(name), sd, name)
        pairs += conv_pairs(model.get_layer("head"), sd, "head.0")
        for index, kind in body_layout(hparams["n_resblocks"], self.name != "edsr"):
            prefix = f"body.{index}"
            if kind == "conv":
                pairs += conv_pairs(model.get_layer("body_conv"), sd, prefix)
                continue
            layer = model.get_layer(f"body_{index}")
            if kind == "resblock":
                pairs += conv_pairs(layer.conv1, sd, f"{prefix}.body.0")
                pairs += conv_pairs(layer.conv2, sd, f"{prefix}.body.2")
            elif self.name == "enlcn":
                for embedding, key in (
                    (layer.query_embedding, "conv_match1.0"),
                    (layer.key_embedding, "conv_match2.0"),
                    (layer.value_embedding, "conv_assembly.0"),
                ):
                    pairs += conv_pairs(embedding, sd, f"{prefix}.{key}")
                key = f"{prefix}.attn_fn.projection_matrix"
                # Same (num_random_features, embedding) layout as the buffer.
                pairs.append((key, layer.projection_matrix, sd[key]))
            else:
                pairs += conv_pairs(layer.match_embedding, sd, f"{prefix}.conv_match.0")
                pairs += conv_pairs(
                    layer.assembly_embedding, sd, f"{prefix}.conv_assembly.0"
                )
        upsampler = model.get_layer("upsampler")
        for conv, (conv_index, factor) in zip(
            upsampler.convs, tail_stages(hparams["scale"]), strict=True
        ):
            prefix = f"tail.0.{conv_index}"
            kernel, bias = pixel_shuffle_conv(
                sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], factor
            )
            pairs.append((f"{prefix}.weight", conv.kernel, kernel))
            pairs.append((f"{prefix}.bias", conv.bias, bias))
        pairs += conv_pairs(model.get_layer("tail"), sd, "tail.1")
        return pairs

    def summary(self, config):
        return (
            f"{config['num_blocks']} ResBlocks, {config['filters']} features, "
            f"res_scale {config['res_scale']:g}, "
            f"trained in [0, {config['rgb_range']:g}]"
        )
