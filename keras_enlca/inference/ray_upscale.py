"""Upscaling many images on a Ray cluster (what `enlca upscale --ray` runs).

`upscale_with_ray` streams the job's images through a Ray Data actor pool
in which each actor (`RayUpscaleWorker`) opens the model once; the driver
(this process) writes every output itself, atomically, and records it in the
job's manifest, so a job is resumable and writes each output exactly once
(see `keras_enlca.inference.upscale_job`). Ray is imported only when a job
runs: `pip install "keras-enlca[ray]"`.
"""

import dataclasses
import logging
import math
import os
import socket
import time
import warnings

from keras_enlca.errors import InputError
from keras_enlca.inference.ray_upscale_worker import SETUP_ERROR_MARK
from keras_enlca.inference.ray_upscale_worker import one_line

# What to install for `--ray` (on the driver and on every node).
RAY_EXTRA = "pip install 'keras-enlca[ray]'"
# Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT_S = 10
# A task whose worker dies is run again this many times, then its images
# are listed as failed (a poison image must not retry forever).
TASK_RETRIES = 3
# Default interpreter threads per worker: at most this many (LiteRT gains
# little beyond it; more workers use the cores better).
MAX_DEFAULT_THREADS = 4
# Model formats whose runners use a GPU when the worker has one (TensorFlow);
# LiteRT's Python interpreter runs on CPUs.
GPU_FORMATS = ("keras", "savedmodel")


def import_ray():
    """`ray` with `ray.data`, or a one-line `InputError` naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError as error:
        name = (error.name or "").split(".")[0]
        if name != "ray":
            raise
        raise InputError(
            f"--ray needs Ray, which this install lacks (no module named 'ray'); "
            f"install it with {RAY_EXTRA}."
        ) from None
    return ray


def check_address(address, timeout=None):
    """Raises a one-line `InputError` unless `address` answers within `timeout` s.

    `None`, `"auto"` and `"local"` are Ray's own choices (an existing local
    cluster or a new one) and are not probed. `HOST:PORT` and
    `ray://HOST:PORT` get one TCP connection attempt.
    """
    if address in (None, "", "auto", "local"):
        return
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    target = address[len("ray://") :] if address.startswith("ray://") else address
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            f"--ray {address}: not a Ray address (HOST:PORT, ray://HOST:PORT, auto or "
            "local). Write --ray=ADDRESS, or put a bare --ray after the inputs."
        )
    try:
        with socket.create_connection(
            (host.strip("[]"), int(port)), timeout=timeout
        ) as connection:
            answers_grpc = _speaks_http2(connection)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        if isinstance(error, TimeoutError) or reason == "timed out":
            reason = f"no answer in {timeout} s"
        raise InputError(
            f"--ray {address}: no Ray cluster answers there ({reason}); start one "
            "with `ray start --head` on that host, or check the address."
        ) from None
    if not answers_grpc:
        # Ray would wait for it for minutes.
        raise InputError(
            f"--ray {address}: something answers there, but not a Ray cluster (no "
            f"gRPC reply in {timeout} s); give the address `ray start --head` printed "
            "(its port, 6379 by default)."
        )


def _speaks_http2(connection):
    """Whether the server on `connection` answers an HTTP/2 greeting (as gRPC does).

    Ray's GCS and client server are gRPC servers: they answer a client
    preface with a SETTINGS frame. A connection reset or any other reply is
    no Ray; a silent server runs into the socket's timeout (`OSError`).
    """
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    empty_settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    try:
        connection.sendall(preface + empty_settings)
        header = b""
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except TimeoutError:
        return False
    return header[3] == 0x04  # a SETTINGS frame


def _quiet_ray_data():
    """Ray Data's console lines (progress bars, 'execution finished') off."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    if os.environ.get("ENLCA_DEBUG"):
        return context
    # The job reports its errors itself, in one line; Ray Data's log file
    # in the session folder keeps everything.
    for handler in logging.getLogger("ray.data").handlers:
        if not hasattr(handler, "baseFilename"):  # the console, not the log file
            handler.setLevel(logging.CRITICAL)
    return context


def connect(address=None):
    """`ray.init` for a job: quiet, no dashboard, bounded wait; returns `ray`."""
    from keras_enlca.utils.native_output import quiet_native_output

    ray = import_ray()
    debug = bool(os.environ.get("ENLCA_DEBUG"))
    if not debug:
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    kwargs = {
        "address": address or None,
        "logging_level": logging.INFO if debug else logging.ERROR,
        "log_to_driver": debug,
    }
    if address in (None, "", "local"):
        kwargs["include_dashboard"] = False
    try:
        with quiet_native_output():
            ray.init(**kwargs)
    except (ConnectionError, RuntimeError, TimeoutError) as error:
        raise InputError(f"--ray {address or ''}: {one_line(error)}") from None
    return ray


def plan_workers(nodes, model_format, num_workers=None, threads=None):
    """`(num_workers, threads_per_worker, gpus_per_worker)` for a cluster.

    Defaults from the cluster's resources: `threads` is the CPU count of the
    smallest node with CPUs, at most `MAX_DEFAULT_THREADS`; workers fill
    every node's CPUs with that many threads each. When the cluster has
    GPUs and the model runs in TensorFlow (`.keras`, SavedModel), each
    worker takes one GPU and there is one worker per GPU (LiteRT's Python
    interpreter runs on CPUs). Asking for more than the cluster holds is an
    `InputError` (Ray would wait for resources forever).

    Args:
        nodes: `ray.nodes()` (dead nodes are skipped).
        model_format: `"tflite"`, `"keras"` or `"savedmodel"`.
        num_workers: the user's `--num-workers`, or None.
        threads: the user's `--threads-per-worker`, or None.
    """
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    cpus = [int(r.get("CPU", 0)) for r in alive]
    gpus = int(sum(r.get("GPU", 0) for r in alive))
    if not any(cpus):
        raise InputError("--ray: the cluster has no CPUs for workers.")
    use_gpus = gpus > 0 and model_format in GPU_FORMATS
    if threads is None:
        threads = 1 if use_gpus else min(min(c for c in cpus if c), MAX_DEFAULT_THREADS)
    if threads > max(cpus):
        raise InputError(
            f"--threads-per-worker {threads}: no node has that many CPUs (the largest "
            f"has {max(cpus)})."
        )
    fit = sum(c // threads for c in cpus)
    if use_gpus:
        fit = min(fit, gpus)
    if num_workers is None:
        num_workers = fit
    if num_workers > fit:
        per_node = ", ".join(str(c) for c in cpus)
        what = f"{gpus} GPUs, " if use_gpus else ""
        raise InputError(
            f"--num-workers {num_workers}: the cluster ({what}CPUs per node: "
            f"{per_node}) fits {fit} workers of {threads} threads; ask for fewer."
        )
    return num_workers, threads, 1 if use_gpus else 0


def _setup_error(error):
    """The worker's one-line message inside a Ray error, or None."""
    text = str(error)
    start = text.find(SETUP_ERROR_MARK)
    if start < 0:
        return None
    return text[start + len(SETUP_ERROR_MARK) :].splitlines()[0].strip()


@dataclasses.dataclass
class _Job:
    """One `upscale_with_ray` call: what its workers run, where results go."""

    model: str  # absolute path
    fmt: str  # `loader.model_format(model)`
    out_dir: str
    manifest: object  # `JobManifest`
    report: dict  # `upscale_with_ray`'s return value, filled in as it runs
    address: object = None
    num_workers: object = None
    threads: object = None  # per worker; None: `plan_workers` decides
    batch_size: int = 1
    tile: object = None
    overlap: object = None
    scale: object = None
    progress: object = None
    # Output path (relative to `out_dir`) -> the source given for it.
    sources: dict = dataclasses.field(default_factory=dict)
    # Outputs that exist already: kept if identical, else listed as failed.
    verify: set = dataclasses.field(default_factory=set)


def _dataset(ray, job, items, workers, threads, gpus):
    from keras_enlca.inference.ray_upscale_worker import RayUpscaleWorker

    context = _quiet_ray_data()
    # A model no worker can open fails the job at once, not after retries.
    context.max_consecutive_actor_init_deaths = 1
    # A task whose worker died TASK_RETRIES + 1 times is given up, and its
    # images are listed as failed, instead of failing the whole job.
    context.max_errored_blocks = -1
    dataset = ray.data.from_items(
        items, override_num_blocks=max(1, math.ceil(len(items) / job.batch_size))
    )
    with warnings.catch_warnings():
        # Ray 2.60 names no parameter for the actors' task retries yet.
        warnings.simplefilter("ignore")
        return dataset.map_batches(
            RayUpscaleWorker,
            fn_constructor_kwargs={
                "model": job.model,
                "threads": threads,
                "tile": job.tile,
                "overlap": job.overlap,
                "scale": job.scale,
            },
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_size=job.batch_size,
            batch_format="numpy",
            num_cpus=threads,
            num_gpus=gpus,
            max_task_retries=TASK_RETRIES,
        )


def _write_output(out_dir, relative, data):
    from keras_enlca.utils.atomic import atomic_path

    with atomic_path(os.path.join(out_dir, relative)) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def upscale_with_ray(
    model,
    inputs,
    out_dir,
    address=None,
    num_workers=None,
    threads_per_worker=None,
    batch_size=1,
    tile=None,
    overlap=None,
    scale=None,
    overwrite=False,
    progress=None,
):
    """Upscales image files, folder trees and list files on a Ray cluster.

    Resumable and exactly once: an output counts as done only when the
    job's manifest records it with this model and tiling and the file still
    has the recorded SHA-256 (`JobManifest`); a re-run does only the rest.
    An output that exists without such a record is recomputed and kept if
    identical (a crash between its rename and its record), else listed as
    failed unless `overwrite`. Only this process writes outputs, one at a
    time, each to a temporary name renamed when complete; one job at a time
    per output folder (`JobLock`). Images that cannot be read or upscaled
    go to `OUT/enlca-upscale-failures.txt` (`path<TAB>reason`) and do not
    stop the job.

    Every node that runs workers needs keras-enlca with the `[ray]` extra
    (and `[cpu]`/`[gpu]` for a `.keras` or SavedModel model), the model at
    `model`'s absolute path and the input images at their absolute paths;
    the outputs are written by the driver only.

    Args:
        model: the model path (`.tflite`, `.keras` or SavedModel).
        inputs: image files, folders (walked recursively; subfolders are
            kept in `out_dir`) and list files (`.txt`, `.lst`: one path a line).
        out_dir: the output folder.
        address: `None` (Ray's default: `RAY_ADDRESS`, else the cluster
            started on this host, else a new local one), `"local"` (always a
            new local one) or a cluster address (`HOST:PORT`, `ray://...`).
        num_workers: actors in the pool (default: fill the cluster).
        threads_per_worker: CPUs (interpreter threads) per actor.
        batch_size: images per Ray task.
        tile: LR tile size, as `enlca upscale --tile`.
        overlap: LR tile overlap, as `enlca upscale --overlap`.
        scale: the expected scale, or None.
        overwrite: replace existing outputs that this job did not record.
        progress: called as `progress(report)` after each output.

    Returns:
        A dict: `total`, `done_before` (complete from an earlier run),
        `written`, `verified` (existing, identical to this job's output),
        `failed` (`[(source, reason)]`), `failure_list` (path or None),
        `scale`, `workers`, `threads_per_worker`, `startup_s` (connecting and
        planning workers), `seconds` (from then on: workers starting and
        working), `first_result_s` (from then to the first result),
        `images_per_s` (images done over `seconds`), `work_window` (the
        first start and last end of the workers' batches, `time.time()` of
        their hosts; absent when nothing ran).

    Example:

    ```python
    report = upscale_with_ray("x2.tflite", ["photos/"], "out/", num_workers=2)
    print(report["written"], report["failed"])
    ```
    """
    from keras_enlca.inference.job_manifest import JobManifest
    from keras_enlca.inference.loader import model_format
    from keras_enlca.inference.tiling import DEFAULT_TILE
    from keras_enlca.inference.tiling import tile_settings
    from keras_enlca.inference.upscale_job import JobLock
    from keras_enlca.inference.upscale_job import job_fingerprint
    from keras_enlca.inference.upscale_job import plan_job
    from keras_enlca.inference.upscale_job import remove_job_temporaries
    from keras_enlca.inference.upscale_job import write_failure_list
    from keras_enlca.utils.outputs import check_writable

    import_ray()  # before any work: a missing extra, a wrong address
    check_address(address)
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1.")
    tile_settings(DEFAULT_TILE if tile is None else tile, overlap)
    fmt = model_format(model)
    model = os.path.abspath(os.fspath(model))
    out_dir = os.fspath(out_dir)
    pairs = plan_job(inputs, out_dir)
    check_writable(os.path.join(out_dir, "probe"), option="-o")
    report = {
        "total": len(pairs),
        "done_before": 0,
        "written": 0,
        "verified": 0,
        "failed": [],
        "failure_list": None,
        "scale": scale,
        "workers": 0,
        "threads_per_worker": threads_per_worker,
        "startup_s": 0.0,
        "seconds": 0.0,
        "first_result_s": None,
        "images_per_s": 0.0,
    }
    with JobLock(out_dir):
        job = _Job(
            model=model,
            fmt=fmt,
            out_dir=out_dir,
            manifest=JobManifest(out_dir, job_fingerprint(model, tile, overlap)),
            report=report,
            address=address,
            num_workers=num_workers,
            threads=threads_per_worker,
            batch_size=batch_size,
            tile=tile,
            overlap=overlap,
            scale=scale,
            progress=progress,
        )
        remove_job_temporaries(out_dir, [relative for _, relative in pairs])
        todo = _plan_todo(job, pairs, overwrite)
        if todo:
            _run_job(job, todo)
        report["failure_list"] = write_failure_list(out_dir, report["failed"])
    return report


def _plan_todo(job, pairs, overwrite):
    """The worker items of the outputs the manifest does not count as done."""
    todo = []
    for source, relative in pairs:
        if job.manifest.is_done(relative):
            job.report["done_before"] += 1
            continue
        if os.path.lexists(os.path.join(job.out_dir, relative)) and not overwrite:
            job.verify.add(relative)
        todo.append({"source": os.path.abspath(source), "output": relative})
        job.sources[relative] = source
    return todo


def _run_job(job, todo):
    """Connects, runs the actor pool over `todo` and writes what comes back."""
    report = job.report
    started = time.monotonic()
    ray = connect(job.address)
    try:
        workers, threads, gpus = plan_workers(
            ray.nodes(), job.fmt, job.num_workers, job.threads
        )
        report["workers"], report["threads_per_worker"] = workers, threads
        dataset = _dataset(ray, job, todo, workers, threads, gpus)
        report["startup_s"] = time.monotonic() - started
        try:
            finished = _take_results(job, dataset)
        except InputError:
            raise
        except Exception as error:  # noqa: BLE001 - Ray wraps everything
            message = _setup_error(error)
            if message is None:
                raise InputError(
                    f"the Ray job failed: {one_line(error).split(' Traceback')[0]}"
                ) from None
            raise InputError(message) from None
        for relative, source in job.sources.items():
            if relative not in finished:
                report["failed"].append(
                    (
                        source,
                        f"no result: its worker died {TASK_RETRIES + 1} times "
                        "(a crash or out of memory; see the Ray logs)",
                    )
                )
    finally:
        ray.shutdown()


def _take_results(job, dataset):
    """Takes the workers' results as they come; returns the outputs done."""
    report = job.report
    running = time.monotonic()
    finished = set()
    for row in dataset.iter_rows():
        relative = str(row["output"])
        if relative in finished:  # a retried task's second answer
            continue
        finished.add(relative)
        _take_row(job, row, relative)
        report["seconds"] = time.monotonic() - running
        if report["first_result_s"] is None:
            report["first_result_s"] = report["seconds"]
        done = report["written"] + report["verified"]
        report["images_per_s"] = done / max(report["seconds"], 1e-9)
        if job.progress is not None:
            job.progress(report)
    return finished


def _take_row(job, row, relative):
    """Writes (or checks) one worker result; records it in the manifest."""
    import hashlib

    from keras_enlca.inference.upscale_job import file_sha256

    report = job.report
    if row["error"]:
        report["failed"].append((job.sources[relative], str(row["error"])))
        return
    report["scale"] = int(row["scale"])
    window = report.setdefault("work_window", [row["started"], row["finished"]])
    window[:] = [min(window[0], row["started"]), max(window[1], row["finished"])]
    data = bytes(row["data"])
    digest = hashlib.sha256(data).hexdigest()
    destination = os.path.join(job.out_dir, relative)
    if relative in job.verify and os.path.lexists(destination):
        if os.path.isfile(destination) and file_sha256(destination) == digest:
            job.manifest.record(relative, digest)
            report["verified"] += 1
        else:
            report["failed"].append(
                (
                    job.sources[relative],
                    f"{destination} exists and is not this job's output; pass "
                    "--overwrite to replace it",
                )
            )
        return
    _write_output(job.out_dir, relative, data)
    job.manifest.record(relative, digest)
    report["written"] += 1
