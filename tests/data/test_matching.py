import os

import pytest

from keras_enlca.data.matching import match_files
from keras_enlca.data.matching import name_key
from keras_enlca.errors import InputError


def _pairs(candidates, references, scale=4):
    pairs = match_files(
        [f"sr/{c}" for c in candidates], [f"hr/{r}" for r in references], scale
    )
    return {os.path.basename(h): os.path.basename(s) for h, s in pairs}


def test_name_keys():
    assert name_key("hr/baby.png") == "baby"
    assert name_key("hr/baby_HR_x4.png") == "baby"
    assert name_key("hr/img_001_SRF_4_HR.png") == "img_001_srf_4"
    assert name_key("hr/latex2.png") == "latex2"  # no separator: not a scale tag
    assert name_key("hr/0801.png") == "0801"


@pytest.mark.parametrize(
    "sr_name",
    [
        "baby_x4_SR.png",
        "babyx4.png",
        "baby_RCAN_x4.png",
        "baby_ENLCN.png",
        "baby.png",
        "baby_SR.jpg",
        "Baby_X4.png",
    ],
)
def test_common_naming_schemes(sr_name):
    assert _pairs([sr_name, "bird_x4_SR.png"], ["baby.png", "bird.png"]) == {
        "baby.png": sr_name,
        "bird.png": "bird_x4_SR.png",
    }


def test_rcan_test_code_names():
    # RCAN: HR/Set5/x4/baby_HR_x4.png vs SR/BI/RCAN/Set5/x4/baby_RCAN_x4.png
    assert _pairs(
        ["baby_RCAN_x4.png", "head_RCAN_x4.png"], ["baby_HR_x4.png", "head_HR_x4.png"]
    ) == {"baby_HR_x4.png": "baby_RCAN_x4.png", "head_HR_x4.png": "head_RCAN_x4.png"}


def test_prefix_names_do_not_collide():
    assert _pairs(
        ["img_1_SR.png", "img_10_SR.png", "img_100_SR.png"],
        ["img_1.png", "img_10.png", "img_100.png"],
    ) == {
        "img_1.png": "img_1_SR.png",
        "img_10.png": "img_10_SR.png",
        "img_100.png": "img_100_SR.png",
    }


def test_other_scales_are_ignored():
    assert _pairs(["baby_x2_SR.png", "baby_x4_SR.png"], ["baby.png"]) == {
        "baby.png": "baby_x4_SR.png"
    }
    with pytest.raises(InputError, match="baby_x2_SR.png is named for another scale"):
        _pairs(["baby_x2_SR.png"], ["baby.png"])


def test_exact_name_beats_suffixed_and_ties_are_errors():
    assert _pairs(["baby.png", "baby_bicubic.png"], ["baby.png"]) == {
        "baby.png": "baby.png"
    }
    with pytest.raises(InputError, match="Several SR images match HR baby.png"):
        _pairs(["baby_bicubic.png", "baby_ENLCN.png"], ["baby.png"])


def test_missing_candidate_is_named():
    with pytest.raises(InputError, match="No SR image for HR bird.png"):
        _pairs(["baby_x4_SR.png"], ["baby.png", "bird.png"])
