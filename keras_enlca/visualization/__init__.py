"""Pictures of what the networks do: attention maps (ENLCA paper, Figure 1).

`attention_map` needs TensorFlow; the drawing parts (`apply_colormap`,
`panel_grid`, `draw_marker`) need only NumPy and Pillow, so the names load
on first use.
"""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module of this package that defines it
EXPORTS = {
    "attention_map": "attention_map",
    "LayerAttention": "layer_attention",
    "find_attention_layers": "attention_layers",
    "attention_row": "attention_row",
    "layer_inputs": "layer_inputs",
    "apply_colormap": "colormap",
    "attention_figure": "attention_figure",
    "display_size": "attention_figure",
    "draw_marker": "marker",
    "panel_grid": "panel_grid",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
