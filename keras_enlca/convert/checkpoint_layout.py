"""The interface of a network family's PyTorch checkpoint layout.

A layout knows, for one family of `keras_enlca.models.registry`, every
key and shape the authors' code puts in a state_dict, how to read the
network sizes back from a checkpoint, and which Keras variable each tensor
goes to. `keras_enlca.convert.layout` and `.torch_checkpoints` hold what is
common to all families and call these methods; the families' layouts are
listed in `keras_enlca.convert.checkpoint_layouts`.
"""

import numpy as np

from keras_enlca.convert.weights import conv_kernel
from keras_enlca.errors import InputError
from keras_enlca.models.registry import get_family


class CheckpointLayout:
    """The PyTorch state_dict layout of one network family.

    Subclasses implement the methods below for their family (one subclass
    may serve several families, e.g. EDSR, NLSN and ENLCN share a trunk).

    Args:
        name: the family name in `keras_enlca.models.registry`
            (`"enlcn"`, `"a2n-m"`).

    Example:

    ```python
    layout = get_layout("enlcn")  # an `EdsrFamilyLayout`
    keys = layout.reference_layout(4)
    len(keys)  # 177
    ```
    """

    def __init__(self, name):
        self.name = name

    @property
    def family(self):
        """The `NetworkFamily` of this layout."""
        return get_family(self.name)

    def matches(self, state_dict):
        """Whether `state_dict`'s keys are those of this family.

        `detect_architecture` asks the layouts from the last one listed to
        the first, so a layout listed later may refine an earlier one (an
        ENLCN checkpoint also has EDSR's keys).
        """
        raise NotImplementedError

    def reference_layout(self, scale, **sizes):
        """Every state_dict key and shape of the reference network, in the
        reference insertion order (`{key: shape}`)."""
        raise NotImplementedError

    def infer_hyperparameters(self, state_dict, scale, source):
        """The sizes of a checkpoint of this family, read from its shapes.

        Returns a dict with `arch`, `scale` and the keyword arguments of
        `reference_layout` (plus `rgb_range` where the checkpoint stores
        it). Raises a one-line `InputError` when `scale` does not fit.
        """
        raise NotImplementedError

    def describe_sizes(self, hparams):
        """The sizes in a few words, e.g. `"32 ResBlocks, 256 features"`."""
        raise NotImplementedError

    def model_arguments(self, hparams, res_scale=None):
        """Constructor arguments of the Keras network for these sizes."""
        raise NotImplementedError

    def extra_mismatches(self, config):
        """Configuration entries of a model that no checkpoint of this
        family can fit, beyond `model_arguments` (as `"key=value
        (checkpoint: value)"` strings)."""
        return []

    def assignments(self, model, state_dict, hparams):
        """`(key, variable, value)` for every tensor of the checkpoint."""
        raise NotImplementedError

    def summary(self, config):
        """The converted network's sizes for `enlca convert`'s last line."""
        raise NotImplementedError


def conv_entry(prefix, out_channels, in_channels, kernel_size, bias=True):
    """The state_dict entries of an `nn.Conv2d` named `prefix`."""
    layout = {f"{prefix}.weight": (out_channels, in_channels, kernel_size, kernel_size)}
    if bias:
        layout[f"{prefix}.bias"] = (out_channels,)
    return layout


def conv_pairs(layer, state_dict, prefix, use_bias=True):
    """The assignments of a PyTorch conv `prefix` to a Keras `Conv2D`."""
    pairs = [
        (f"{prefix}.weight", layer.kernel, conv_kernel(state_dict[f"{prefix}.weight"]))
    ]
    if use_bias:
        pairs.append((f"{prefix}.bias", layer.bias, state_dict[f"{prefix}.bias"]))
    return pairs


def first_shape(state_dict, candidates, axis=0):
    """`(size, key)` of the first key of `candidates` with an axis `axis`."""
    for key in candidates:
        if key in state_dict and np.ndim(state_dict[key]) > axis:
            return int(np.shape(state_dict[key])[axis]), key
    return None, None


def scale_error(source, requested, found, reason):
    """The one-line error of a `--scale` the checkpoint does not have."""
    return InputError(
        f"--scale {requested} does not match {source}: {reason}, so the "
        f"checkpoint is x{found}; pass --scale {found}."
    )
