"""Browser WASM (LiteRT.js in headless Chromium) against Python LiteRT.

For each family's small preset (untrained: speed does not depend on the
weights) and each precision (float32, float16, int8) exported with a fixed
input of `--tiles` (default 128 and 256 LR pixels), one tile is timed:

- Python: `LiteRTRunner(path, num_threads=T)` (the `enlca upscale` runner),
  median of `--repeats` runs after one warm-up;
- browser: the page of `enlca web` in Debian's headless Chromium, the model
  compiled by LiteRT.js for WASM with `cpuOptions.numThreads = T`, the
  same tile through the page's own tile function (`liteRtTileModel(...).run`:
  the input conversion, the run and the output read-back), median of
  `--repeats` runs after one warm-up;

for T = 1 and 2 threads, all in one run, and reported as ratios browser /
Python (the goal: within 2x). Each row also gives the largest difference
in grey levels between the two outputs of the same tile. The header checks
that SIMD and threads are really on: the WASM file LiteRT.js loaded (the
relaxed-SIMD threaded build is `litert_wasm_threaded_internal.wasm`), the
page's cross-origin isolation, and the browser's own 2-thread speed-up.

Needs Debian's chromium and LiteRT.js (`npm install --prefix
~/.cache/keras-enlca/litertjs @litertjs/core@2.5.3`, or $ENLCA_LITERTJS).

Run by hand (not a test):

    python benchmarks/browser.py --work-dir /tmp/enlca-browser-bench
    python benchmarks/browser.py --families enlcn a2n --tiles 128 --repeats 3

Prints a table and writes `browser.json` into `--out` (default
benchmarks/results).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAMILIES = ("edsr", "nlsn", "enlcn", "a2n")
PRECISIONS = ("none", "float16", "int8")
SHOWN = {"none": "float32", "float16": "float16", "int8": "int8"}


def export(family, quantize, tile, work_dir):
    """`<work>/<family>_small_x2_<tile>_<quantize>.tflite`, made once."""
    path = os.path.join(work_dir, f"{family}_small_x2_{tile}_{quantize}.tflite")
    if os.path.exists(path):
        return path
    import keras

    from keras_enlca.data import sample_image_paths
    from keras_enlca.export import export_tflite
    from keras_enlca.export.calibration import calibration_crops
    from keras_enlca.export.calibration import representative_dataset
    from keras_enlca.models import from_preset

    keras.utils.set_random_seed(0)
    model = from_preset(f"{family}_small_x2")
    dataset = None
    if quantize == "int8":
        crops = calibration_crops(
            sample_image_paths()[:4], num_crops=4, crop_size=64, seed=0
        )
        dataset = representative_dataset(crops, size=(tile, tile))
    start = time.time()
    export_tflite(
        model,
        path,
        quantize=quantize,
        representative_dataset=dataset,
        tile=(tile, tile),
        # Speed only: min/max activation ranges give the same graph as the
        # default least-error search, in a fraction of the export time.
        range_method="minmax",
    )
    print(f"  exported {os.path.basename(path)} in {time.time() - start:.0f} s")
    return path


def python_time(path, tile_rgb, threads, repeats):
    from keras_enlca.inference.litert_runner import LiteRTRunner
    from keras_enlca.utils.image_conventions import to_uint8

    runner = LiteRTRunner(path, num_threads=threads)
    x = tile_rgb[None].astype(np.float32) / np.float32(255.0)
    out = runner(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times), to_uint8(out[0])


BROWSER_TIMING = """(async () => {
  const model = window.enlca.state.model;
  const rgb = Uint8Array.from(%s);
  const out = await model.run(rgb);
  const times = [];
  for (let i = 0; i < %d; i++) {
    const start = performance.now();
    await model.run(rgb);
    times.push((performance.now() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length %% 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  const bytes = Array.from(out, (v) => Math.floor(Math.fround(
      Math.fround(Math.min(Math.max(v, 0), 1) * 255) + 0.5)));
  return {median, bytes, isolated: self.crossOriginIsolated,
          runtime: window.enlca.state.runtime.file,
          status: document.getElementById('model-status').textContent};
})()"""


def browser_time(browser, server, index, tile_rgb, threads, repeats):
    page = browser.new_page(f"{server.url}?model={index}&threads={threads}")
    page.wait_for(
        "document.body.dataset.ready === 'true' || "
        "!document.getElementById('runtime-error').hidden",
        timeout=120,
    )
    error = page.evaluate(
        "document.getElementById('model-error').textContent + "
        "document.getElementById('runtime-error').textContent"
    )
    if error:
        raise RuntimeError(error)
    result = page.evaluate(
        BROWSER_TIMING % (json.dumps(tile_rgb.reshape(-1).tolist()), repeats),
        timeout=900,
    )
    page.send("Page.close")
    out = np.asarray(result["bytes"], np.uint8).reshape(
        tile_rgb.shape[0] * 2, tile_rgb.shape[1] * 2, 3
    )
    return result, out


def test_tile(tile):
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths

    image = read_image(sample_image_paths()[0])
    reps = (-(-tile // image.shape[0]), -(-tile // image.shape[1]), 1)
    return np.ascontiguousarray(np.tile(image, reps)[:tile, :tile])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    parser.add_argument("--tiles", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        metavar="FAMILY/PRECISION/TILE",
        help="cells to leave out, e.g. nlsn/int8/256",
    )
    parser.add_argument("--work-dir", default="/tmp/enlca-browser-bench")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)

    from keras_enlca.web.litertjs import find_litertjs
    from keras_enlca.web.web_server import WebServer
    from tests.web.chromium import Chromium

    found, problem = find_litertjs()
    if found is None:
        sys.exit(problem)
    os.makedirs(args.work_dir, exist_ok=True)
    plan = [
        (family, quantize, tile)
        for tile in args.tiles
        for family in args.families
        for quantize in args.precisions
        if f"{family}/{SHOWN[quantize]}/{tile}" not in args.skip
        and f"{family}/{quantize}/{tile}" not in args.skip
    ]
    paths = [export(f, q, t, args.work_dir) for f, q, t in plan]
    server = WebServer(paths, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    header = {}
    with Chromium() as browser:
        for index, ((family, quantize, tile), path) in enumerate(zip(plan, paths)):
            rgb = test_tile(tile)
            row = {"family": family, "precision": SHOWN[quantize], "tile": tile}
            for threads in args.threads:
                py_s, py_out = python_time(path, rgb, threads, args.repeats)
                result, js_out = browser_time(
                    browser, server, index, rgb, threads, args.repeats
                )
                header = {
                    "runtime": result["runtime"],
                    "cross_origin_isolated": result["isolated"],
                }
                diff = int(np.abs(js_out.astype(int) - py_out.astype(int)).max())
                row[f"python_{threads}t_s"] = py_s
                row[f"browser_{threads}t_s"] = result["median"]
                row[f"ratio_{threads}t"] = result["median"] / py_s
                row["max_diff"] = max(row.get("max_diff", 0), diff)
            rows.append(row)
            print_row(row, args.threads)
    server.shutdown()
    report(rows, header, args)


def print_row(row, threads):
    cells = [f"{row['family']:6s} {row['precision']:8s} {row['tile']:4d}"]
    for t in threads:
        cells.append(
            f"{row[f'python_{t}t_s'] * 1000:8.1f} {row[f'browser_{t}t_s'] * 1000:8.1f} "
            f"{row[f'ratio_{t}t']:5.2f}x"
        )
    cells.append(f"{row['max_diff']:3d}")
    print(" | ".join(cells), flush=True)


def report(rows, header, args):
    t1, t2 = args.threads[0], args.threads[-1]
    speedups = [r[f"browser_{t1}t_s"] / r[f"browser_{t2}t_s"] for r in rows]
    py_speedups = [r[f"python_{t1}t_s"] / r[f"python_{t2}t_s"] for r in rows]
    header.update(
        {
            "browser_speedup_threads": statistics.median(speedups),
            "python_speedup_threads": statistics.median(py_speedups),
            "within_2x": sum(r[f"ratio_{t}t"] <= 2 for r in rows for t in args.threads),
            "cells": len(rows) * len(args.threads),
            "cpu_count": os.cpu_count(),
        }
    )
    print(
        f"\nLiteRT.js runtime: {header['runtime']}; cross-origin isolated: "
        f"{header['cross_origin_isolated']}; median speed-up {t1}->{t2} threads: "
        f"browser {header['browser_speedup_threads']:.2f}x, Python "
        f"{header['python_speedup_threads']:.2f}x; browser within 2x of Python in "
        f"{header['within_2x']} of {header['cells']} cells."
    )
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "browser.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"header": header, "rows": rows}, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
