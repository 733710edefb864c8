"""The record of one network family: what the library knows about a network."""

import copy


class NetworkFamily:
    """Everything the library needs to know about one network family.

    A family is one reference network (EDSR, NLSN, ENLCN, A2N, A2N-M): its
    Keras class, its named presets with their training recipes, and what
    the export and parameter-counting code must know about its layers.
    Register it with `keras_enlca.models.register_family`; `from_preset`,
    `list_presets`, `get_recipe`, the training configuration,
    `count_parameters` and the int8 export (`attention_layer_names`) then
    know it. Converting the authors' PyTorch checkpoints needs a checkpoint
    layout in `keras_enlca.convert` as well (see CONTRIBUTING.md).

    Args:
        name: str. The family name, lowercase, as `enlca convert --arch`
            takes it (`"enlcn"`, `"a2n-m"`).
        display_name: str. The name in messages (`"ENLCN"`, `"A2N-M"`).
        model_class: the `SuperResolutionModel` subclass that builds the
            network.
        presets: dict. Preset name -> constructor arguments of
            `model_class` (`{"enlcn_x4": {"scale": 4, ...}}`). Names end in
            `_x{scale}` and are unique across families.
        recipes: dict. Preset name -> the reference training settings of
            that preset, as dotted `TrainConfig` keys
            (`{"schedule.learning_rate": 1e-4, "data.patch_size": 48}`). A
            preset without a recipe trains with the schema defaults.
        attention_layers: tuple of layer classes. The non-local attention
            layers of the network; int8 export keeps their arithmetic in
            float (`keras_enlca.export.float_nodes.attention_layer_names`).
        random_buffer_attributes: tuple of str. Attributes of the family's
            layers holding random projections that the reference keeps as
            buffers or per-call draws, not parameters
            (`count_parameters` leaves them out).
        chop_variant: str. The reference `forward_chop` variant of the
            network (`"enlca"`, or `"a2n"`), which `enlca eval --chop`
            picks for it.
        defining_arguments: dict. Constructor arguments that tell this
            family from another one with the same `model_class` (A2N-M:
            `{"non_attention_kernel_size": 1}`); `family_of(model)` compares
            them with the model's `get_config()`.

    Example:

    ```python
    family = NetworkFamily(
        name="tiny",
        display_name="Tiny",
        model_class=TinyNet,
        presets={"tiny_x2": {"scale": 2}},
        recipes={"tiny_x2": {"schedule.learning_rate": 2e-4}},
    )
    keras_enlca.models.register_family(family)
    keras_enlca.models.from_preset("tiny_x2")
    ```
    """

    def __init__(
        self,
        name,
        display_name,
        model_class,
        presets,
        recipes=None,
        attention_layers=(),
        random_buffer_attributes=(),
        defining_arguments=None,
        chop_variant="enlca",
    ):
        self.name = str(name)
        self.display_name = str(display_name)
        self.model_class = model_class
        self.presets = copy.deepcopy(dict(presets))
        self.recipes = copy.deepcopy(dict(recipes or {}))
        self.attention_layers = tuple(attention_layers)
        self.random_buffer_attributes = tuple(random_buffer_attributes)
        self.defining_arguments = dict(defining_arguments or {})
        self.chop_variant = str(chop_variant)
        unknown = sorted(set(self.recipes) - set(self.presets))
        if unknown:
            raise ValueError(
                f"Network family {self.name!r}: recipes for presets it does not "
                f"have: {', '.join(unknown)}."
            )

    def matches(self, model):
        """Whether `model` is a network of this family."""
        if not isinstance(model, self.model_class):
            return False
        config = model.get_config()
        return all(
            config.get(key) == value for key, value in self.defining_arguments.items()
        )

    def get_config(self):
        return {
            "name": self.name,
            "display_name": self.display_name,
            "model_class": self.model_class,
            "presets": copy.deepcopy(self.presets),
            "recipes": copy.deepcopy(self.recipes),
            "attention_layers": self.attention_layers,
            "random_buffer_attributes": self.random_buffer_attributes,
            "defining_arguments": dict(self.defining_arguments),
            "chop_variant": self.chop_variant,
        }

    def __repr__(self):
        return (
            f"NetworkFamily({self.name!r}, {self.model_class.__name__}, "
            f"{len(self.presets)} presets)"
        )
