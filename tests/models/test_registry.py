import inspect
import re

import keras
import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.export.float_nodes import attention_layer_names
from keras_enlca.models import PRESETS
from keras_enlca.models import RECIPES
from keras_enlca.models import NetworkFamily
from keras_enlca.models import SuperResolutionModel
from keras_enlca.models import count_parameters
from keras_enlca.models import family_names
from keras_enlca.models import family_of
from keras_enlca.models import from_preset
from keras_enlca.models import get_family
from keras_enlca.models import get_recipe
from keras_enlca.models import list_presets
from keras_enlca.models import register_family
from keras_enlca.models import unregister_family
from keras_enlca.models.registry import attention_layer_classes
from keras_enlca.models.registry import preset_family
from keras_enlca.training.config import config_from_dict


class TinyAttention(keras.layers.Layer):
    """A residual 3x3 conv with a random `codebook` buffer (not a parameter)."""

    def build(self, input_shape):
        self.conv = keras.layers.Conv2D(3, 3, padding="same")
        self.conv.build(input_shape)
        self.codebook = self.add_weight(
            shape=(4, 3), initializer="random_normal", trainable=False, name="codebook"
        )

    def call(self, inputs):
        return inputs + self.conv(inputs)


class TinyNet(SuperResolutionModel):
    """TinyAttention, then a conv to 3 * scale**2 channels and depth_to_space."""

    def __init__(self, scale=2, filters=3, **kwargs):
        inputs = keras.Input((None, None, 3))
        x = TinyAttention(name="tiny_attention")(inputs)
        x = keras.layers.Conv2D(3 * scale * scale, 3, padding="same", name="tail")(x)
        outputs = keras.layers.Lambda(
            lambda t: keras.ops.depth_to_space(t, scale), name="shuffle"
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, scale=scale, **kwargs)
        self.filters = filters

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


TINY = NetworkFamily(
    name="tiny",
    display_name="Tiny",
    model_class=TinyNet,
    presets={"tiny_x2": {"scale": 2}, "tiny_x3": {"scale": 3}},
    recipes={"tiny_x2": {"schedule.learning_rate": 3e-4, "data.patch_size": 24}},
    attention_layers=(TinyAttention,),
    random_buffer_attributes=("codebook",),
)
# x2: TinyAttention conv 3*3*3*3 + 3, codebook 4*3, tail 3*3*3*12 + 12.
TINY_X2_WEIGHTS = 84 + 12 + 336


@pytest.fixture
def tiny_family():
    register_family(TINY)
    yield TINY
    unregister_family("tiny")


def test_builtin_families():
    assert family_names() == ("edsr", "nlsn", "enlcn", "a2n", "a2n-m")
    assert [get_family(n).display_name for n in family_names()] == [
        "EDSR",
        "NLSN",
        "ENLCN",
        "A2N",
        "A2N-M",
    ]
    with pytest.raises(InputError, match=r"Unknown network family 'rcan'.*a2n-m"):
        get_family("rcan")


def test_a_registered_family_needs_no_other_edit(tiny_family):
    # Presets, recipes and from_preset.
    assert {"tiny_x2", "tiny_x3"} <= set(list_presets())
    assert set(PRESETS) == set(RECIPES) == set(list_presets())
    assert PRESETS["tiny_x3"] == (TinyNet, {"scale": 3})
    model = from_preset("tiny_x2")
    assert isinstance(model, TinyNet) and model.scale == 2
    assert model(np.zeros((1, 4, 5, 3), "float32")).shape == (1, 8, 10, 3)
    assert family_of(model) is tiny_family
    # Training: the recipe is in config vocabulary; x3 has none (defaults).
    config = config_from_dict({}, preset="tiny_x2")
    assert config.schedule.learning_rate == 3e-4 and config.data.patch_size == 24
    assert get_recipe("tiny_x3") == {}
    assert config_from_dict({}, preset="tiny_x3").data.patch_size == 48
    # int8 export keeps its attention in float; its buffer is no parameter.
    assert TinyAttention in attention_layer_classes()
    assert attention_layer_names(model) == ["tiny_attention"]
    floats = [w for w in model.weights if "float" in str(w.dtype)]
    assert sum(int(np.prod(w.shape)) for w in floats) == TINY_X2_WEIGHTS
    assert count_parameters(model) == TINY_X2_WEIGHTS - 12


def test_an_unregistered_family_is_unknown_again(tiny_family):
    model = from_preset("tiny_x2")
    unregister_family("tiny")
    try:
        assert "tiny_x2" not in list_presets() and "tiny" not in family_names()
        with pytest.raises(InputError, match="Unknown preset 'tiny_x2'"):
            from_preset("tiny_x2")
        assert attention_layer_names(model) == []
        assert count_parameters(model) == TINY_X2_WEIGHTS
        assert family_of(model) is None
    finally:
        register_family(tiny_family)


def test_registration_errors(tiny_family):
    with pytest.raises(ValueError, match="'tiny' is registered already"):
        register_family(TINY)
    clash = NetworkFamily("tiny2", "Tiny2", TinyNet, presets={"tiny_x2": {}})
    with pytest.raises(ValueError, match="presets tiny_x2 belong to 'tiny'"):
        register_family(clash)
    with pytest.raises(ValueError, match="recipes for presets it does not have: b_x2"):
        NetworkFamily("b", "B", TinyNet, presets={"b_x3": {}}, recipes={"b_x2": {}})
    assert "tiny2" not in family_names()


def _build_args(family, name):
    kwargs = dict(family.presets[name])
    # One block is enough to check the arguments and the graph: the paper
    # sizes are built in test_parameter_count.
    if "num_blocks" in inspect.signature(family.model_class).parameters:
        kwargs["num_blocks"] = 1
    return kwargs


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_builds_in_its_family(name):
    family = preset_family(name)
    model = family.model_class(**_build_args(family, name))
    scale = int(re.fullmatch(r".+_x(\d+)", name).group(1))
    assert model.scale == scale
    assert family_of(model) is family
    output = model(np.zeros((1, 5, 6, 3), "float32"))
    assert output.shape == (1, 5 * scale, 6 * scale, 3)


@pytest.mark.parametrize("name", list_presets())
def test_every_recipe_is_in_config_vocabulary(name):
    # `config_from_dict` applies the recipe key by key: an unknown key or a
    # wrong type is an InputError.
    recipe = get_recipe(name)
    assert recipe, f"{name} has no recipe"
    config = config_from_dict({}, preset=name)
    for key, value in recipe.items():
        section, field = key.split(".")
        assert getattr(getattr(config, section), field) == value, key
