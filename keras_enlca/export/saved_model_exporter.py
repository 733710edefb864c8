"""The SavedModel exporter: `ExportOptions` -> a SavedModel folder."""

from keras_enlca.export.saved_model import write_saved_model_folder


def export_saved_model_artifact(model, options, metadata, reference):
    """Writes `options.out` as a SavedModel folder (see `saved_model.py`).

    The format's exporter for `export_model`: the uint8 serving signature
    (any input size, or `options.input_size`), `metadata` inside the folder;
    the folder is written atomically.
    """
    write_saved_model_folder(
        model,
        options.out,
        tile=options.input_size,
        metadata=metadata,
        overwrite=options.overwrite,
    )
