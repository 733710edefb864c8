"""What `enlca info` shows about a `.keras`, SavedModel, `.tflite` or `.onnx` model."""

import os

from keras_enlca.inference.loader import open_runner


def model_info(path):
    """A dict describing a model file of any registered format.

    Keys: `path`, `format`, `network`, `scale`, `parameters`, `input`
    (dtype, range, layout, shape) and, for exports, `tile`, `quantization`,
    `source_model`, `size_bytes`, `verification` and the rest of the
    export metadata. For a SavedModel or `.tflite` the metadata JSON
    (beside it, or embedded) is used when present; the scale is always
    measured by running the model once, and a metadata file that disagrees
    with the model is an `InputError`.

    Example:

    ```python
    info = model_info("enlcn_x2_int8.tflite")
    info["scale"], info["quantization"]  # (2, "int8")
    ```
    """
    runner = open_runner(path)
    info = {"path": os.path.abspath(os.fspath(path))}
    info.update(runner.describe())
    info["format"] = runner.format
    if runner.format == "keras":
        info["size_bytes"] = os.path.getsize(path)
    return info


def format_info(info):
    """Human-readable lines for `enlca info`."""

    def shape(values):
        return "x".join("?" if v is None else str(v) for v in values)

    lines = [
        f"path:          {info['path']}",
        f"format:        {info['format']}",
        f"network:       {info.get('network') or 'unknown (no metadata)'}",
        f"scale:         x{info['scale']}",
    ]
    if info.get("parameters") is not None:
        lines.append(f"parameters:    {info['parameters']:,}")
    else:
        lines.append("parameters:    unknown (no metadata)")
    model_input = info.get("input") or {}
    if model_input:
        low, high = model_input.get("range", [None, None])
        lines.append(
            f"input:         {model_input.get('dtype')} "
            f"{model_input.get('layout', 'NHWC RGB')} in [{low}, {high}], shape "
            f"{shape(model_input.get('shape', []))}"
        )
    if info["format"] != "keras":
        tile = info.get("tile")
        lines.append(
            f"tile:          {'x'.join(map(str, tile)) if tile else 'any size'}"
        )
        lines.append(
            f"quantization:  {info.get('quantization') or 'unknown (no metadata)'}"
        )
        if info.get("target"):
            lines.append(f"target:        {info['target']}")
        if info.get("float_ops"):
            lines.append(f"float ops:     {', '.join(info['float_ops'])}")
        if info.get("source_model"):
            lines.append(f"source model:  {info['source_model']}")
    if info.get("size_bytes") is not None:
        lines.append(f"size:          {info['size_bytes'] / 1e6:.2f} MB")
    verification = info.get("verification")
    if verification:
        lines.append(
            f"verified:      {verification['images']} images, PSNR-Y vs Keras "
            f"{verification['psnr_y_vs_keras']:.2f} dB, vs HR "
            f"{verification['psnr_y_artifact_vs_hr']:.2f} dB (Keras "
            f"{verification['psnr_y_keras_vs_hr']:.2f} dB, drop "
            f"{verification['psnr_y_drop']:.3f} dB)"
        )
    return lines
