import subprocess
import sys

import keras
import pytest

from keras_enlca.cli.convert import convert as convert_command
from keras_enlca.convert.checkpoint_layout import CheckpointLayout
from keras_enlca.convert.checkpoint_layouts import ARCHITECTURES
from keras_enlca.convert.checkpoint_layouts import CHECKPOINT_LAYOUTS
from keras_enlca.convert.checkpoint_layouts import get_layout
from keras_enlca.convert.layout import network_names
from keras_enlca.convert.torch_checkpoints import architecture_of
from keras_enlca.errors import InputError
from keras_enlca.models import from_preset
from keras_enlca.models import get_family


def test_every_layout_belongs_to_a_registered_family():
    assert ARCHITECTURES == ("edsr", "nlsn", "enlcn", "a2n", "a2n-m")
    for arch in CHECKPOINT_LAYOUTS:
        layout = get_layout(arch)
        assert isinstance(layout, CheckpointLayout) and layout.name == arch
        assert layout.family is get_family(arch)
        assert get_layout(arch) is layout  # built once
    assert network_names() == "EDSR, NLSN, ENLCN or A2N"
    with pytest.raises(KeyError):
        get_layout("tiny")


def test_cli_choices_are_the_layouts_and_load_without_tensorflow():
    arch = next(p for p in convert_command.params if p.name == "arch")
    assert tuple(arch.type.choices) == ARCHITECTURES
    code = (
        "import sys, keras_enlca.cli.convert\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "preset, arch",
    [
        ("edsr_small_x2", "edsr"),
        ("nlsn_small_x2", "nlsn"),
        ("enlcn_small_x2", "enlcn"),
        ("a2n_small_x2", "a2n"),
        ("a2n_m_x2", "a2n-m"),
    ],
)
def test_architecture_of_each_family(preset, arch):
    assert architecture_of(from_preset(preset, num_blocks=1)) == arch


def test_architecture_of_other_models_names_the_convertible_ones():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs), name="plain")
    with pytest.raises(
        InputError,
        match=r"^Cannot load a PyTorch checkpoint into Functional; expected an "
        r"EDSR, NLSN, ENLCN or A2N model of keras_enlca.models\.$",
    ):
        architecture_of(model)
