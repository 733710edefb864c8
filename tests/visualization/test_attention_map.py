import keras
import numpy as np
import pytest

from keras_enlca.errors import InputError
from keras_enlca.layers import NonLocalAttention
from keras_enlca.models import from_preset
from keras_enlca.visualization.attention_map import attention_map
from tests.visualization.repeated_texture import QUERY
from tests.visualization.repeated_texture import hand_set_model
from tests.visualization.repeated_texture import repeated_texture


def top_positions(weights, count):
    return np.argsort(-weights.ravel(), kind="stable")[:count]


@pytest.mark.parametrize("kind", ["NLA", "NLSA", "ENLCA"])
def test_maps_of_a_hand_set_layer_peak_at_the_repeated_patch(kind):
    image, mask = repeated_texture()
    (result,) = attention_map(hand_set_model(kind), image, QUERY)
    assert result.kind == kind and result.layer == "attention"
    assert result.weights.shape == (32, 32) and result.query == QUERY
    patch = np.flatnonzero(mask.ravel())
    rows = [result.weights] if result.exact is None else [result.weights, result.exact]
    for weights in rows:
        assert weights.sum() == pytest.approx(1.0, abs=1e-5)
        # The 48 strongest positions are the three patches, each a third.
        assert set(top_positions(weights, 48)) == set(patch)
        # Far more than the patches' share of the image (48 / 1024).
        assert weights[mask].sum() > 5 * mask.mean()
        for x, y in ((4, 4), (20, 8), (12, 24)):
            share = weights[y : y + 4, x : x + 4].sum() / weights[mask].sum()
            assert share == pytest.approx(1 / 3, abs=1e-4)
    if kind == "NLSA":
        # Red, light and dark gray hash to three buckets: the query meets
        # its bucket (first chunk) and the two chunks around it only.
        assert np.count_nonzero(result.weights) == 3 * 64
    if kind == "ENLCA":
        assert result.summary()["approximation_error"]["l1"] > 0


def test_the_point_is_mapped_to_the_layer_resolution():
    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    model = keras.Model(inputs, NonLocalAttention(name="nla")(features))
    image, _ = repeated_texture()
    (result,) = attention_map(model, image, (21, 9))
    assert result.weights.shape == (16, 16)
    assert result.query == (10, 4) and result.point == (21, 9)
    assert result.image_size == (32, 32)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.lift = keras.layers.Conv2D(8, 1)
        self.nla = NonLocalAttention(name="inner_nla")

    def call(self, x):
        return self.nla(self.lift(x))


def test_nested_functional_and_subclassed_models_give_the_same_map():
    image, _ = repeated_texture()
    net = from_preset("enlcn_small_x2", num_blocks=2, attention_every=1)
    inputs = keras.Input((None, None, 3))
    wrapper = keras.Model(inputs, net(inputs), name="wrapper")
    direct = attention_map(net, image[:20, :24], (3, 5))
    nested = attention_map(wrapper, image[:20, :24], (3, 5))
    assert [m.layer for m in direct] == ["body_0", "body_2", "body_4"]
    assert [m.layer for m in nested] == [f"{net.name}/{m.layer}" for m in direct]
    for a, b in zip(direct, nested, strict=True):
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(a.exact, b.exact, rtol=1e-5, atol=1e-8)
    (only,) = attention_map(wrapper, image[:20, :24], (3, 5), layer="body_2")
    np.testing.assert_allclose(only.weights, direct[1].weights, rtol=1e-5, atol=1e-8)
    model = Subclassed()
    model(image[None])
    (sub,) = attention_map(model, image, QUERY)
    assert sub.layer == "inner_nla" and sub.weights.shape == (32, 32)


def test_summary_describes_the_raw_map():
    image, mask = repeated_texture()
    (result,) = attention_map(hand_set_model("ENLCA"), image, QUERY)
    summary = result.summary(top=3)
    assert summary["shape"] == [32, 32] and summary["kind"] == "ENLCA"
    peak = summary["max_position"]
    assert mask[peak["y"], peak["x"]]
    assert len(summary["top"]) == 3 and summary["sum"] == pytest.approx(1, abs=1e-5)
    assert (
        0
        < summary["entropy"]
        < summary["uniform_entropy"]
        == pytest.approx(np.log(1024))
    )
    assert summary["exact"]["entropy"] < summary["uniform_entropy"]


def test_bad_requests_are_one_line_input_errors():
    image, _ = repeated_texture()
    model = hand_set_model("NLA")
    with pytest.raises(InputError, match=r"point \(32, 3\) is outside the 32x32 image"):
        attention_map(model, image, (32, 3))
    with pytest.raises(InputError, match=r"point \(-1, 3\)"):
        attention_map(model, image, (-1, 3))
    with pytest.raises(InputError, match="no attention layer of that name.*attention"):
        attention_map(model, image, QUERY, layer="body_9")
    inputs = keras.Input((None, None, 3))
    plain = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    with pytest.raises(InputError, match="has no NLA, NLSA or ENLCA attention layer"):
        attention_map(plain, image, QUERY)
