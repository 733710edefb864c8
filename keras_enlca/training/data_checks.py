"""Checks of a run's training data, made before its run folder is written.

Every problem is one `InputError` in config-key terms (`data.patch_size`,
`data.train.dir`) naming the file at fault, so that `enlca train` stops
before it creates the run folder or `config.yaml`.
"""

import inspect

from PIL import Image

from keras_enlca.errors import InputError
from keras_enlca.training.config import model_arguments

# Up to this many training images are decoded in full (a corrupt body is
# found); larger sets get PIL's cheaper `verify()` of every file.
FULL_DECODE_LIMIT = 64


def _check_image(path, decode):
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            else:
                image.verify()
    except Exception as error:  # noqa: BLE001 - PIL raises many kinds
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"'data.train.dir': cannot read training image {path}: {reason}"
        ) from None


def contrastive_keys_needed(config, preset_name):
    """Keys the network's contrastive loss ranks per query (0 if none).

    The reference ("code") form ranks fixed counts (15 relevant from rank 0,
    15 irrelevant from rank 50); the paper form scales with the map size.
    """
    from keras_enlca.layers.contrastive import contrastive_ranks
    from keras_enlca.models.presets import preset_config

    cls, _ = preset_config(preset_name)
    parameters = inspect.signature(cls.__init__).parameters
    if "contrastive" not in parameters:
        return 0
    form = model_arguments(config, preset_name).get(
        "contrastive", parameters["contrastive"].default
    )
    if form != "code":
        return 0
    _, start, count = contrastive_ranks("code", 0)
    return start + count


def check_training_data(datasets, config, scale, preset_name):
    """Raise `InputError` unless every training image can feed a patch.

    Checks that each image decodes, that its LR size holds a
    `data.patch_size` patch, and that the patch gives the ENLCA contrastive
    loss enough keys.
    """
    patch = config.data.patch_size
    needed = contrastive_keys_needed(config, preset_name)
    if needed and patch * patch < needed:
        side = 1
        while side * side < needed:
            side += 1
        raise InputError(
            f"'data.patch_size' {patch} gives {patch * patch} positions per "
            f"attention map, but the ENLCA contrastive loss (reference form) "
            f"ranks {needed} keys: use data.patch_size >= {side}, "
            "contrastive.form=paper or contrastive.weight=0"
        )
    count = sum(len(d) for d in datasets)
    if count == 0:
        raise InputError("'data.train.dir' holds no training images")
    decode = count <= FULL_DECODE_LIMIT
    for dataset in datasets:
        for index in range(len(dataset)):
            paths = [dataset.hr_paths[index]]
            if dataset.lr_paths is not None:
                paths.append(dataset.lr_paths[index])
            for path in paths:
                _check_image(path, decode)
            lr_shape, _ = dataset.shapes(index)
            if min(lr_shape) < patch:
                raise InputError(
                    f"'data.patch_size' {patch}: training image "
                    f"{dataset.hr_paths[index]} is only {lr_shape[0]}x{lr_shape[1]} "
                    f"at LR (x{scale}); use a smaller data.patch_size or "
                    "remove the image"
                )
