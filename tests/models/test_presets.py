import pytest

from keras_enlca.errors import InputError
from keras_enlca.models import A2N
from keras_enlca.models import EDSR
from keras_enlca.models import ENLCN
from keras_enlca.models import NLSN
from keras_enlca.models import PRESETS
from keras_enlca.models import RECIPES
from keras_enlca.models import from_preset
from keras_enlca.models import get_recipe
from keras_enlca.models import list_presets
from keras_enlca.models import preset_config


def test_all_contract_names_exist():
    names = set(list_presets())
    for s in (2, 3, 4):
        for family in (
            "edsr",
            "edsr_baseline",
            "nlsn",
            "enlcn",
            "a2n",
            "a2n_m",
            "enlcn_small",
            "nlsn_small",
            "edsr_small",
            "a2n_small",
        ):
            assert f"{family}_x{s}" in names
    assert names == set(PRESETS) == set(RECIPES)
    assert list_presets() == sorted(names)


def test_paper_settings():
    cls, kwargs = preset_config("enlcn_x4")
    assert cls is ENLCN
    assert kwargs == {
        "scale": 4,
        "num_blocks": 32,
        "filters": 256,
        "res_scale": 0.1,
        "rgb_range": 1.0,
        "attention_every": 8,
        "attention_reduction": 4,
        "num_random_features": 128,
        "amplification": 6.0,
        "contrastive": "code",
    }
    cls, kwargs = preset_config("nlsn_x3")
    assert cls is NLSN and kwargs["chunk_size"] == 144 and kwargs["n_hashes"] == 4
    cls, kwargs = preset_config("edsr_x2")
    assert cls is EDSR and kwargs["rgb_range"] == 255.0 and kwargs["res_scale"] == 0.1
    cls, kwargs = preset_config("edsr_baseline_x3")
    assert (kwargs["num_blocks"], kwargs["filters"], kwargs["res_scale"]) == (
        16,
        64,
        1.0,
    )
    cls, kwargs = preset_config("a2n_m_x3")
    assert cls is A2N and kwargs == {"scale": 3, "non_attention_kernel_size": 1}
    # preset_config returns a copy.
    kwargs["scale"] = 9
    assert preset_config("a2n_m_x3")[1]["scale"] == 3


def test_recipes():
    enlcn = get_recipe("enlcn_x2")
    assert enlcn["schedule.learning_rate"] == 1e-4
    assert enlcn["data.batch_size"] == 16 and enlcn["data.patch_size"] == 48
    assert enlcn["schedule.decay_milestones"] == [200, 400, 600, 800]
    assert enlcn["schedule.decay_factor"] == 0.5
    assert enlcn["contrastive.weight"] == 1e-3
    assert enlcn["contrastive.warmup_epochs"] == 101
    assert enlcn["schedule.projection_redraw_interval"] == 640
    assert enlcn["schedule.steps_per_epoch"] == 1000
    assert get_recipe("nlsn_x4")["contrastive.weight"] == 0.0
    a2n = get_recipe("a2n_x2")
    assert a2n["schedule.learning_rate"] == 5e-4 and a2n["data.batch_size"] == 32
    assert a2n["data.patch_size"] == 64
    assert a2n["schedule.decay_milestones"][:2] == [200, 400]
    assert get_recipe("edsr_x3")["schedule.epochs"] == 300
    # get_recipe returns a copy.
    a2n["schedule.decay_milestones"].append(1)
    assert get_recipe("a2n_x2")["schedule.decay_milestones"][-1] == 1800


def test_small_presets_build_with_overrides():
    model = from_preset("enlcn_small_x3", num_blocks=2, attention_every=1)
    assert isinstance(model, ENLCN) and model.scale == 3
    assert [layer.name for layer in model.attention_layers] == [
        "body_0",
        "body_2",
        "body_4",
    ]
    small = from_preset("enlcn_small_x2")
    assert [layer.name for layer in small.attention_layers] == ["body_0", "body_9"]
    assert small.filters == 64 and small.num_blocks == 8


def test_unknown_preset_names_the_input():
    with pytest.raises(InputError, match="'enlcn_x5'.*enlcn_x4"):
        from_preset("enlcn_x5")
    with pytest.raises(InputError, match="nope"):
        get_recipe("nope")
