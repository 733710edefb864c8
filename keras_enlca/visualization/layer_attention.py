"""The attention map of one layer for one query (what `attention_map` returns)."""

import dataclasses

import numpy as np


def _describe(weights, top):
    flat = weights.reshape(-1)
    width = weights.shape[1]
    order = np.argsort(-flat, kind="stable")[:top]
    positive = flat[flat > 0]
    peak = int(order[0])
    return {
        "sum": float(flat.sum()),
        "max": float(flat[peak]),
        "max_position": {"x": peak % width, "y": peak // width},
        "entropy": float(-(positive * np.log(positive)).sum()),
        "nonzero": int(positive.size),
        "top": [
            {"x": int(i) % width, "y": int(i) // width, "weight": float(flat[i])}
            for i in order
        ],
    }


@dataclasses.dataclass
class LayerAttention:
    """One attention layer's weights for one query, at the layer's resolution.

    Args:
        layer: the layer's path in the model (`"body_9"`).
        kind: `"NLA"`, `"NLSA"` or `"ENLCA"`.
        weights: float `(h, w)` array summing to 1: the row the layer uses
            (for ENLCA the random-feature approximation).
        exact: ENLCA only: the exact `softmax(k cos)` row it approximates,
            `(h, w)`; `None` for NLA and NLSA.
        query: `(x, y)` of the query at the layer's resolution.
        point: `(x, y)` that was asked for, in input-image pixels.
        image_size: `(height, width)` of the input image.

    Example:

    ```python
    first = attention_map(model, image, (120, 64))[0]
    first.weights.shape, first.summary()["max_position"]
    ```
    """

    layer: str
    kind: str
    weights: np.ndarray
    exact: np.ndarray | None
    query: tuple
    point: tuple
    image_size: tuple

    def summary(self, top=5):
        """A JSON-ready description: shape, peak, entropy, top positions.

        Positions are `{"x", "y"}` at the layer's resolution; `entropy` is
        in nats (`log(h * w)` for a uniform map). ENLCA adds `exact` (the
        same summary of the exact row) and `approximation_error` (L1 and
        largest absolute difference between the two rows).
        """
        result = {
            "layer": self.layer,
            "kind": self.kind,
            "shape": list(self.weights.shape),
            "query": {"x": int(self.query[0]), "y": int(self.query[1])},
            "point": {"x": int(self.point[0]), "y": int(self.point[1])},
            "uniform_entropy": float(np.log(self.weights.size)),
            **_describe(self.weights, top),
        }
        if self.exact is not None:
            difference = np.abs(self.weights - self.exact)
            result["exact"] = _describe(self.exact, top)
            result["approximation_error"] = {
                "l1": float(difference.sum()),
                "max_abs": float(difference.max()),
            }
        return result
