"""The checkpoint layout of A2N and A2N-M (haoyuc/A2N, `aan.py`)."""

import inspect
import re

import numpy as np

from keras_enlca.convert.checkpoint_layout import CheckpointLayout
from keras_enlca.convert.checkpoint_layout import conv_entry
from keras_enlca.convert.checkpoint_layout import conv_pairs
from keras_enlca.convert.checkpoint_layout import first_shape
from keras_enlca.convert.checkpoint_layout import scale_error
from keras_enlca.convert.weights import dense_kernel
from keras_enlca.errors import InputError


class A2NLayout(CheckpointLayout):
    """The state_dict layout of A2N and A2N-M checkpoints.

    `conv_first`, the `AAB_trunk.{i}` attention-in-attention blocks (their
    attention dropout module `ADM.0`/`ADM.2` is linear), `trunk_conv`, the
    upsampling stages `upconv{k}`/`att{k}.conv`/`HRconv{k}` (two at x4) and
    `conv_last`. A2N-M has 1x1 `non_attention` convs where A2N has 3x3 ones
    (`non_attention_kernel_size=1`, A2N-M's `defining_arguments`).

    Args:
        name: `"a2n"` or `"a2n-m"`.

    Example:

    ```python
    layout = A2NLayout("a2n-m").reference_layout(2)
    layout["AAB_trunk.0.non_attention.weight"]  # (40, 40, 1, 1)
    ```
    """

    @property
    def non_attention_kernel_size(self):
        """The `non_attention` conv size of the family (3 A2N, 1 A2N-M): its
        `defining_arguments`, else the default of its class."""
        family = self.family
        default = (
            inspect.signature(family.model_class)
            .parameters["non_attention_kernel_size"]
            .default
        )
        return family.defining_arguments.get("non_attention_kernel_size", default)

    def matches(self, state_dict):
        keys = sorted(k for k in state_dict if k.startswith("AAB_trunk."))
        if not keys:
            return False
        if self.non_attention_kernel_size == 3:
            return True  # A2N: any AAB trunk (A2N-M, listed later, refines it)
        kernels = [
            np.shape(state_dict[k])[-1]
            for k in keys
            if k.endswith(".non_attention.weight")
        ]
        return bool(kernels) and kernels[0] == self.non_attention_kernel_size

    def reference_layout(
        self,
        scale,
        num_blocks=16,
        features=40,
        upsample_features=24,
        adm_reduction=4,
        num_branches=2,
        non_attention_kernel_size=None,
        n_colors=3,
    ):
        """Every state_dict key and shape, in order.

        Args:
            scale: upscaling factor (2, 3 or 4).
            num_blocks: attention-in-attention blocks (16 in the reference).
            features: trunk features (40).
            upsample_features: upsampling features (24).
            adm_reduction: attention dropout module reduction (4).
            num_branches: ADM outputs, K (2).
            non_attention_kernel_size: 3 (A2N) or 1 (A2N-M); defaults to
                the family's.
            n_colors: image channels (3).
        """
        if non_attention_kernel_size is None:
            non_attention_kernel_size = self.non_attention_kernel_size
        nf, unf = features, upsample_features
        layout = {}
        layout.update(conv_entry("conv_first", nf, n_colors, 3))
        for i in range(num_blocks):
            p = f"AAB_trunk.{i}"
            layout.update(conv_entry(f"{p}.conv_first", nf, nf, 1, bias=False))
            layout.update(conv_entry(f"{p}.conv_last", nf, nf, 1, bias=False))
            layout[f"{p}.ADM.0.weight"] = (nf // adm_reduction, nf)
            layout[f"{p}.ADM.2.weight"] = (num_branches, nf // adm_reduction)
            layout.update(conv_entry(f"{p}.attention.k1", nf, nf, 3, bias=False))
            layout.update(conv_entry(f"{p}.attention.k2", nf, nf, 1))
            layout.update(conv_entry(f"{p}.attention.k3", nf, nf, 3, bias=False))
            layout.update(conv_entry(f"{p}.attention.k4", nf, nf, 3, bias=False))
            layout.update(
                conv_entry(
                    f"{p}.non_attention", nf, nf, non_attention_kernel_size, bias=False
                )
            )
        layout.update(conv_entry("trunk_conv", nf, nf, 3))
        layout.update(conv_entry("upconv1", unf, nf, 3))
        layout.update(conv_entry("att1.conv", unf, unf, 1))
        layout.update(conv_entry("HRconv1", unf, unf, 3))
        if scale == 4:
            layout.update(conv_entry("upconv2", unf, unf, 3))
            layout.update(conv_entry("att2.conv", unf, unf, 1))
            layout.update(conv_entry("HRconv2", unf, unf, 3))
        layout.update(conv_entry("conv_last", n_colors, unf, 3))
        return layout

    def infer_hyperparameters(self, state_dict, scale, source):
        blocks = {
            int(m.group(1))
            for m in (re.match(r"AAB_trunk\.(\d+)\.", k) for k in state_dict)
            if m
        }
        features, _ = first_shape(
            state_dict, ["conv_first.weight", "trunk_conv.weight"]
        )
        upsample_features, _ = first_shape(
            state_dict, ["upconv1.weight", "conv_last.weight"], 0
        )
        if "upconv1.weight" not in state_dict and "conv_last.weight" in state_dict:
            upsample_features = int(np.shape(state_dict["conv_last.weight"])[1])
        if features is None or upsample_features is None:
            raise InputError(
                f"{source}: cannot read the A2N feature sizes (no conv_first.weight "
                "or upconv1.weight)."
            )
        adm_hidden, _ = first_shape(
            state_dict, sorted(k for k in state_dict if k.endswith(".ADM.0.weight"))
        )
        num_branches, _ = first_shape(
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
            raise scale_error(
                source, scale, 4, "it has two upsampling stages (upconv1 and upconv2)"
            )
        return {
            "arch": self.name,
            "scale": scale,
            "num_blocks": len(blocks),
            "features": features,
            "upsample_features": upsample_features,
            "adm_reduction": max(1, features // adm_hidden) if adm_hidden else 4,
            "num_branches": num_branches or 2,
            "non_attention_kernel_size": self.non_attention_kernel_size,
        }

    def describe_sizes(self, hparams):
        return f"{hparams['num_blocks']} blocks, {hparams['features']} features"

    def model_arguments(self, hparams, res_scale=None):
        if res_scale is not None:
            raise InputError("--res-scale applies to EDSR, NLSN and ENLCN, not to A2N.")
        return {
            "scale": hparams["scale"],
            "num_blocks": hparams["num_blocks"],
            "filters": hparams["features"],
            "upsample_filters": hparams["upsample_features"],
            "reduction": hparams["adm_reduction"],
            "non_attention_kernel_size": hparams["non_attention_kernel_size"],
        }

    def assignments(self, model, state_dict, hparams):
        sd = state_dict
        pairs = conv_pairs(model.get_layer("conv_first"), sd, "conv_first")
        for i in range(hparams["num_blocks"]):
            block = model.get_layer(f"aab_{i}")
            p = f"AAB_trunk.{i}"
            pairs += conv_pairs(block.conv_first, sd, f"{p}.conv_first", use_bias=False)
            pairs += conv_pairs(block.conv_last, sd, f"{p}.conv_last", use_bias=False)
            for dense, key in (
                (block.adm_dense_1, f"{p}.ADM.0.weight"),
                (block.adm_dense_2, f"{p}.ADM.2.weight"),
            ):
                pairs.append((key, dense.kernel, dense_kernel(sd[key])))
            for k in ("k1", "k2", "k3", "k4"):
                pairs += conv_pairs(
                    getattr(block, f"attention_{k}"),
                    sd,
                    f"{p}.attention.{k}",
                    use_bias=k == "k2",
                )
            pairs += conv_pairs(
                block.non_attention, sd, f"{p}.non_attention", use_bias=False
            )
        pairs += conv_pairs(model.get_layer("trunk_conv"), sd, "trunk_conv")
        for stage in (1, 2) if hparams["scale"] == 4 else (1,):
            pairs += conv_pairs(model.get_layer(f"upconv{stage}"), sd, f"upconv{stage}")
            pairs += conv_pairs(
                model.get_layer(f"att{stage}").conv, sd, f"att{stage}.conv"
            )
            pairs += conv_pairs(
                model.get_layer(f"hr_conv{stage}"), sd, f"HRconv{stage}"
            )
        pairs += conv_pairs(model.get_layer("conv_last"), sd, "conv_last")
        return pairs

    def summary(self, config):
        size = config["non_attention_kernel_size"]
        return (
            f"{config['num_blocks']} blocks, {config['filters']} features, "
            f"non-attention {size}x{size}, trained in [0, 255]"
        )
