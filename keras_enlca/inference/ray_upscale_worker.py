"""One worker of a Ray upscaling job: the model loaded once, images in, bytes out."""

import os
import socket
import tempfile
import time

import numpy as np

# Marks the one-line message of a worker that cannot open the model, so that
# the driver finds it inside Ray's wrapped error.
SETUP_ERROR_MARK = "ENLCA_WORKER_SETUP_ERROR: "


def one_line(error):
    """An exception as one line: its message, else its type's name."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


class RayUpscaleWorker:
    """Upscales batches of image files with a model opened once per worker.

    The callable class of the Ray Data actor pool that
    `keras_enlca.inference.ray_upscale.upscale_with_ray` runs (it imports
    no Ray itself). Each image is read with `read_image`, upscaled with
    `upscale_image` (the tiling of `enlca upscale`) and encoded by
    `write_image` for its output's extension: the bytes the single-process
    path writes. The worker writes nothing into the output folder; it
    returns the encoded bytes, and the job's driver writes them. An image
    that cannot be read or upscaled becomes a row with an `error` (one
    line) instead of stopping the batch.

    Args:
        model: the model path, as every worker's node sees it (any format
            `open_runner` takes; a `.tflite` needs no TensorFlow).
        threads: interpreter threads (formats whose runner takes them:
            `.tflite`, `.onnx`).
        tile: LR tile size (see `keras_enlca.inference.upscale_files.tiling_for`).
        overlap: LR tile overlap.
        scale: the expected scale, or None.

    Call arguments:
        batch: a dict with `"source"` (absolute input paths) and `"output"`
            (output paths relative to the output folder), NumPy arrays.

    Example:

    ```python
    worker = RayUpscaleWorker("x2.tflite", threads=1)
    rows = worker({"source": np.array(["/in/a.png"]), "output": np.array(["a.png"])})
    # rows["data"][0]: the PNG bytes of the x2 image; rows["error"][0] == ""
    ```
    """

    def __init__(self, model, threads=None, tile=None, overlap=None, scale=None):
        from keras_enlca.inference.artifact_format import format_of_path
        from keras_enlca.inference.loader import open_runner
        from keras_enlca.inference.upscale_files import tiling_for
        from keras_enlca.utils.native_output import quiet_native_output

        self.host = socket.gethostname()
        self.tile = tile
        self.overlap = overlap
        try:
            kwargs = {}
            if threads and format_of_path(model).threads:
                kwargs["num_threads"] = threads
            with quiet_native_output():
                self.runner = open_runner(model, **kwargs)
            self.runner.check_scale(scale)
            tiling_for(self.runner, tile, overlap)
        except Exception as error:  # noqa: BLE001 - reported as one line
            raise RuntimeError(
                f"{SETUP_ERROR_MARK}a worker on {self.host} cannot open the model: "
                f"{one_line(error)}"
            ) from None

    def encode(self, source, output):
        """The bytes of `source` upscaled and encoded as `output`'s format."""
        from keras_enlca.data.io import read_image
        from keras_enlca.data.io import write_image
        from keras_enlca.inference.upscale_files import upscale_image

        sr = upscale_image(
            self.runner, read_image(source), tile=self.tile, overlap=self.overlap
        )
        # The single-process path's own writer, so the bytes are the same. A
        # folder per image: Ray ends workers without running finalizers.
        with tempfile.TemporaryDirectory(prefix="enlca-ray-worker-") as scratch:
            path = os.path.join(scratch, "encoded" + os.path.splitext(output)[1])
            write_image(path, sr)
            with open(path, "rb") as f:
                return f.read()

    def __call__(self, batch):
        data, errors = [], []
        started = time.time()
        for source, output in zip(batch["source"], batch["output"]):
            try:
                data.append(self.encode(str(source), str(output)))
                errors.append("")
            except Exception as error:  # noqa: BLE001 - one image, not the job
                data.append(b"")
                errors.append(one_line(error))
        count = len(errors)
        encoded = np.empty(count, dtype=object)  # bytes, not a 2-D char array
        encoded[:] = data
        return {
            "source": np.asarray(batch["source"]),
            "output": np.asarray(batch["output"]),
            "data": encoded,
            "error": np.asarray(errors, dtype=object),
            "scale": np.full(count, self.runner.scale),
            "host": np.asarray([self.host] * count, dtype=object),
            # The batch's working window on this host's clock (for images/s
            # without the workers' start-up).
            "started": np.full(count, started),
            "finished": np.full(count, time.time()),
        }
