import numpy as np
import pytest

from keras_enlca.convert.edsr_family_layout import RGB_MEAN
from keras_enlca.convert.layout import check_state_dict
from keras_enlca.convert.layout import detect_architecture
from keras_enlca.convert.layout import infer_hyperparameters
from keras_enlca.convert.layout import layout_from_hyperparameters
from keras_enlca.convert.layout import reference_layout
from keras_enlca.errors import InputError
from tests.convert.common import read_layout_file

# (file, arch, scale, entries, parameters without buffers) — counts from the
# authors' code (spec §1.1, §2.7, §3.4, §4.1).
REFERENCE_FILES = [
    ("enlcn_x2", "enlcn", 2, 175, 41_223_067),
    ("enlcn_x3", "enlcn", 3, 175, 44_173_467),
    ("enlcn_x4", "enlcn", 4, 177, 43_583_387),
    ("nlsn_x2", "nlsn", 2, 160, 41_796_187),
    ("nlsn_x3", "nlsn", 3, 160, 44_746_587),
    ("nlsn_x4", "nlsn", 4, 162, 44_156_507),
    ("a2n_x2", "a2n", 2, 172, 1_036_443),
    ("a2n_x3", "a2n", 3, 172, 1_036_443),
    ("a2n_x4", "a2n", 4, 178, 1_047_459),
    ("edsr_r32f256_x4_enlca_repo_variant", "edsr", 4, 142, 43_089_947),
]


def zeros_like_layout(layout, rgb_range=1.0):
    state_dict = {k: np.zeros(shape, np.float32) for k, shape in layout.items()}
    if "sub_mean.bias" in state_dict:
        state_dict["sub_mean.bias"] = -rgb_range * np.asarray(RGB_MEAN, np.float32)
        state_dict["add_mean.bias"] = rgb_range * np.asarray(RGB_MEAN, np.float32)
    return state_dict


def parameters(layout):
    return sum(
        int(np.prod(s))
        for k, s in layout.items()
        if not k.endswith("projection_matrix")
    )


@pytest.mark.parametrize("name,arch,scale,entries,params", REFERENCE_FILES)
def test_reference_layout_matches_the_authors_state_dicts(
    name, arch, scale, entries, params
):
    expected = read_layout_file(name)
    layout = reference_layout(arch, scale)
    # Same keys, shapes and insertion order as the dump of the reference code.
    assert list(layout.items()) == list(expected.items())
    assert len(layout) == entries
    assert parameters(layout) == params


@pytest.mark.parametrize("name,arch,scale,entries,params", REFERENCE_FILES)
def test_sizes_are_read_back_from_the_shapes(name, arch, scale, entries, params):
    state_dict = zeros_like_layout(read_layout_file(name))
    assert detect_architecture(state_dict) == arch
    given_scale = scale if arch == "a2n" and scale != 4 else None
    hparams = infer_hyperparameters(state_dict, arch, given_scale)
    assert hparams["scale"] == scale
    if arch == "a2n":
        assert hparams["num_blocks"] == 16
        assert hparams["features"] == 40
        assert hparams["upsample_features"] == 24
        assert hparams["adm_reduction"] == 4
        assert hparams["non_attention_kernel_size"] == 3
    else:
        assert hparams["n_resblocks"] == 32
        assert hparams["n_feats"] == 256
        assert hparams["rgb_range"] == 1
    if arch == "enlcn":
        assert hparams["reduction"] == 4
        assert hparams["num_random_features"] == 128
    check_state_dict(state_dict, layout_from_hyperparameters(hparams))


def test_a2n_m_parameters_and_detection():
    # A2N-M swaps the 3x3 non-attention conv for a 1x1 one (spec §4.1).
    for scale, params in ((2, 831_643), (3, 831_643), (4, 842_659)):
        layout = reference_layout("a2n-m", scale)
        assert parameters(layout) == params
        assert layout["AAB_trunk.7.non_attention.weight"] == (40, 40, 1, 1)
    state_dict = zeros_like_layout(reference_layout("a2n-m", 4))
    assert detect_architecture(state_dict) == "a2n-m"
    assert infer_hyperparameters(state_dict, "a2n-m")["non_attention_kernel_size"] == 1
    with pytest.raises(
        InputError, match=r"--arch a2n does not match .*A2N-M; pass --arch a2n-m"
    ):
        infer_hyperparameters(state_dict, "a2n")


def test_edsr_paper_parameter_counts():
    # EDSR-PyTorch README: 40.7M / 43.7M / 43.1M (spec §1.1).
    counts = [parameters(reference_layout("edsr", s)) for s in (2, 3, 4)]
    assert counts == [40_729_627, 43_680_027, 43_089_947]


@pytest.mark.parametrize("rgb_range", [1, 255])
def test_rgb_range_comes_from_the_mean_shift_bias(rgb_range):
    layout = reference_layout("edsr", 2, n_resblocks=2, n_feats=8)
    state_dict = zeros_like_layout(layout, rgb_range=rgb_range)
    assert infer_hyperparameters(state_dict, "edsr")["rgb_range"] == rgb_range
    state_dict["sub_mean.bias"] = np.array([-0.5, -0.1, -0.2], np.float32)
    with pytest.raises(InputError, match=r"sub_mean.bias .* not the EDSR mean shift"):
        infer_hyperparameters(state_dict, "edsr")


@pytest.mark.parametrize(
    "arch,actual,requested,message",
    [
        (
            "enlcn",
            2,
            4,
            r"--scale 4 does not match ckpt: it has one x2 sub-pixel stage .* x2; pass "
            r"--scale 2",
        ),
        (
            "enlcn",
            4,
            2,
            r"--scale 2 does not match ckpt: it has two x2 sub-pixel stages .* x4",
        ),
        (
            "nlsn",
            3,
            2,
            r"--scale 2 does not match ckpt: tail.0.0.weight has 9\*16 output "
            r"channels, so the checkpoint is x3",
        ),
        ("edsr", 2, 3, r"--scale 3 does not match ckpt: .* x2; pass --scale 2"),
        (
            "a2n",
            4,
            3,
            r"--scale 3 does not match ckpt: it has two upsampling stages .* x4",
        ),
        (
            "a2n",
            2,
            4,
            r"--scale 4 does not match ckpt: it has one upsampling stage .* x2 or x3",
        ),
    ],
)
def test_wrong_scale_names_the_right_one(arch, actual, requested, message):
    sizes = (
        {"num_blocks": 1, "features": 8, "upsample_features": 4}
        if arch == "a2n"
        else {"n_resblocks": 1, "n_feats": 16}
    )
    state_dict = zeros_like_layout(reference_layout(arch, actual, **sizes))
    with pytest.raises(InputError, match=message):
        infer_hyperparameters(state_dict, arch, requested, source="ckpt")


def test_scale_is_read_from_the_tail_or_required_for_a2n():
    for scale in (2, 3, 4):
        state_dict = zeros_like_layout(
            reference_layout("nlsn", scale, n_resblocks=1, n_feats=8)
        )
        assert infer_hyperparameters(state_dict, "nlsn")["scale"] == scale
    state_dict = zeros_like_layout(reference_layout("a2n", 3, num_blocks=1, features=8))
    with pytest.raises(
        InputError,
        match=(
            r"A2N x2 and x3 checkpoints have the same layout; pass --scale 2 or "
            r"--scale 3"
        ),
    ):
        infer_hyperparameters(state_dict, "a2n")
    with pytest.raises(InputError, match=r"--scale 5 is not supported"):
        infer_hyperparameters(state_dict, "a2n", 5)


@pytest.mark.parametrize(
    "arch,requested,name",
    [
        ("enlcn", "nlsn", "ENLCN"),
        ("nlsn", "enlcn", "NLSN"),
        ("edsr", "enlcn", "EDSR"),
        ("a2n", "edsr", "A2N"),
    ],
)
def test_wrong_arch_names_the_right_one(arch, requested, name):
    sizes = (
        {"num_blocks": 1, "features": 8}
        if arch == "a2n"
        else {"n_resblocks": 1, "n_feats": 8}
    )
    state_dict = zeros_like_layout(reference_layout(arch, 2, **sizes))
    with pytest.raises(
        InputError,
        match=(
            rf"--arch {requested} does not match ckpt: its keys are those of {name}; "
            rf"pass --arch {arch}\.$"
        ),
    ):
        infer_hyperparameters(state_dict, requested, 2, source="ckpt")


def test_unknown_networks_and_arch_names():
    with pytest.raises(
        InputError,
        match=(
            r"ckpt: not a checkpoint of EDSR, NLSN, ENLCN or A2N \(its first keys "
            r"are fc.weight, fc.bias\)"
        ),
    ):
        infer_hyperparameters(
            {"fc.weight": np.zeros((2, 2)), "fc.bias": np.zeros(2)},
            "edsr",
            source="ckpt",
        )
    with pytest.raises(InputError, match=r"--arch 'rcan' is not supported"):
        infer_hyperparameters({}, "rcan")


def test_check_lists_missing_unexpected_and_misshaped_keys():
    layout = reference_layout("enlcn", 2, n_resblocks=8, n_feats=16)
    state_dict = zeros_like_layout(layout)
    check_state_dict(state_dict, layout)  # Matches: no error.
    del state_dict["body.9.conv_match2.0.bias"]
    state_dict["body.9.attn_fn.calls"] = np.zeros(())
    state_dict["tail.1.weight"] = np.zeros((3, 8, 3, 3), np.float32)
    with pytest.raises(InputError) as info:
        check_state_dict(
            state_dict, layout, "ckpt.pt", "ENLCN x2 (8 ResBlocks, 16 features)"
        )
    message = str(info.value)
    assert message == (
        "ckpt.pt does not match ENLCN x2 (8 ResBlocks, 16 features): keys "
        "1 missing: body.9.conv_match2.0.bias; 1 unexpected: body.9.attn_fn.calls; "
        "1 with the wrong shape: tail.1.weight (3, 8, 3, 3) instead of (3, 16, 3, 3)."
    )
    assert "\n" not in message


def test_long_key_lists_are_shortened():
    layout = reference_layout("edsr", 2, n_resblocks=8, n_feats=8)
    state_dict = {
        k: v for k, v in zeros_like_layout(layout).items() if not k.startswith("body.")
    }
    with pytest.raises(
        InputError,
        match=r"keys 34 missing: body.0.body.0.weight, .* \(and 28 more\)\.$",
    ):
        check_state_dict(state_dict, layout)


def test_reference_layout_rejects_unknown_architectures():
    with pytest.raises(ValueError, match="Unknown architecture"):
        reference_layout("rcan", 2)
