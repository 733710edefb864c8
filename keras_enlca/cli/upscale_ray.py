"""`enlca upscale --ray`: the job on a Ray cluster, its progress and summary.

Kept apart from `keras_enlca.cli.upscale` so that the plain command imports
nothing of Ray; `keras_enlca.inference.ray_upscale` imports Ray only when the
job connects.
"""

import time

import click

# Seconds between two progress lines.
PROGRESS_EVERY_S = 2.0


def progress_printer(stream, every_s=PROGRESS_EVERY_S):
    """A `progress(report)` that prints a line at most every `every_s` seconds."""
    last = [0.0]

    def progress(report):
        now = time.monotonic()
        done = report["done_before"] + report["written"] + report["verified"]
        finished = done + len(report["failed"]) == report["total"]
        if now - last[0] < every_s and not finished:
            return
        last[0] = now
        failed = f", {len(report['failed'])} failed" if report["failed"] else ""
        click.echo(
            f"{done}/{report['total']} images, {report['images_per_s']:.2f} images/s "
            f"on {report['workers']} workers{failed}",
            file=stream,
        )

    return progress


def summary_line(report, out_dir):
    """The one line that ends the command."""
    done = report["done_before"] + report["written"] + report["verified"]
    scale = f" x{report['scale']}" if report["scale"] else ""
    line = f"Upscaled {done} of {report['total']} images{scale} into {out_dir}"
    details = []
    if report["written"]:
        details.append(
            f"{report['written']} new at {report['images_per_s']:.2f} images/s on "
            f"{report['workers']} Ray workers"
        )
    if report["done_before"] or report["verified"]:
        details.append(
            f"{report['done_before'] + report['verified']} complete from an earlier run"
        )
    if details:
        line += f" ({'; '.join(details)})"
    if report["failed"]:
        line += f"; {len(report['failed'])} failed, listed in {report['failure_list']}"
    return line


def upscale_on_ray(
    model,
    inputs,
    out_dir,
    address,
    overwrite=False,
    tile=None,
    overlap=None,
    scale=None,
    num_workers=None,
    threads_per_worker=None,
    batch_size=1,
    quiet=False,
):
    """Runs the job; prints progress and the summary; exits 1 if any failed."""
    from keras_enlca.inference.ray_upscale import upscale_with_ray

    stderr = click.get_text_stream("stderr")
    report = upscale_with_ray(
        model,
        inputs,
        out_dir,
        address=address or None,
        num_workers=num_workers,
        threads_per_worker=threads_per_worker,
        batch_size=batch_size,
        tile=tile,
        overlap=overlap,
        scale=scale,
        overwrite=overwrite,
        progress=None if quiet else progress_printer(stderr),
    )
    line = summary_line(report, out_dir)
    if report["failed"]:
        click.echo(f"Error: {line}", err=True)
        raise SystemExit(1)
    click.echo(line)
