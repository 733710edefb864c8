"""The API reference names every public name of the package's namespaces.

The public names are read here by importing the namespaces (their
`__all__`, else what they hold that is not a module or private), not by the
generator's own reading of the source, so a name the generator misses fails.
"""

import importlib
import types

import keras_enlca
from tests.docs.scripts import load

api_pages = load("api_pages")


def imported_public_names(namespace):
    module = importlib.import_module(f"keras_enlca.{namespace}")
    if hasattr(module, "__all__"):
        return set(module.__all__)
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        defined_in = getattr(value, "__module__", module.__name__) or ""
        if defined_in.startswith("keras_enlca") or not callable(value):
            names.add(name)
    return names


def test_every_namespace_has_a_page_or_is_internal():
    documented = {namespace for namespace, _ in api_pages.NAMESPACES}
    assert documented | set(api_pages.INTERNAL) == set(keras_enlca.SUBPACKAGES) | {
        "cli"
    }
    assert documented.isdisjoint(api_pages.INTERNAL)


def test_every_public_name_is_in_the_reference():
    pages = api_pages.pages()
    missing, total = [], 0
    for namespace, _ in api_pages.NAMESPACES:
        text = pages[f"reference/{namespace}.md"]
        names = imported_public_names(namespace)
        total += len(names)
        for name in sorted(names):
            if f"{{ #keras_enlca.{namespace}.{name} }}" not in text:
                missing.append(f"keras_enlca.{namespace}.{name}")
        assert set(api_pages.public_names(namespace)) == names, namespace
    assert missing == []
    assert total >= 150  # 157 when the reference was written


def test_each_name_is_rendered_from_its_defining_module():
    text = api_pages.pages()["reference/training.md"]
    assert "::: keras_enlca.training.step_decay.StepDecay" in text
    assert "::: keras_enlca.models.sr_model.enlca_layers" in text  # re-exported
    text = api_pages.pages()["reference/layers.md"]
    assert (
        "::: keras_enlca.layers.efficient_non_local_contrastive_attention.ENLCA" in text
    )
