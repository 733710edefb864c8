"""Which network families `enlca convert` reads, and the layout of each.

`CHECKPOINT_LAYOUTS` maps a family name of `keras_enlca.models.registry` to
the `CheckpointLayout` subclass that reads its PyTorch checkpoints, as
`"module:Class"` inside this package. The classes load on first use, so the
names (the `--arch` choices) come without TensorFlow. Adding a convertible
network is one layout module and one line here.
"""

import importlib

# family name -> "module:Class" of its checkpoint layout. Detection tries
# the entries from the last to the first: a later one may refine an earlier
# one (ENLCN and NLSN checkpoints have EDSR's keys too; A2N-M is an A2N).
CHECKPOINT_LAYOUTS = {
    "edsr": "edsr_family_layout:EdsrFamilyLayout",
    "nlsn": "edsr_family_layout:EdsrFamilyLayout",
    "enlcn": "edsr_family_layout:EdsrFamilyLayout",
    "a2n": "a2n_layout:A2NLayout",
    "a2n-m": "a2n_layout:A2NLayout",
}

# The architectures `enlca convert --arch` takes.
ARCHITECTURES = tuple(CHECKPOINT_LAYOUTS)

_LAYOUTS = {}


def get_layout(arch):
    """The `CheckpointLayout` of family `arch` (one of `ARCHITECTURES`).

    Raises:
        KeyError: `arch` has no checkpoint layout.
    """
    if arch not in _LAYOUTS:
        module, _, cls = CHECKPOINT_LAYOUTS[arch].partition(":")
        module = importlib.import_module(f"{__package__}.{module}")
        _LAYOUTS[arch] = getattr(module, cls)(arch)
    return _LAYOUTS[arch]
