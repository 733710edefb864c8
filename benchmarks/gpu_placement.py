"""Share of each export's ops that the GPU delegates would run.

For the small presets of ENLCN, NLSN, A2N and EDSR, each TFLite variant is
exported with a fixed `--size` tile (GPU delegates and LiteRT.js take fixed
shapes only) and, with `--any-size`, with any input size. Per model and
variant the table gives:

- `ops`: the operators of the `.tflite`;
- `gpu`, `web`: the share of ops with a kernel in the TFLite GPU delegate
  (Android) and in LiteRT.js's WebGPU backend, by the project's tables
  (`keras_enlca.export.op_compatibility`), and the ops left on the CPU;
- `gpu part.`: the longest run of consecutive GPU ops, as a share of all
  ops: what the Android delegate's default `max_delegated_partitions=1`
  delegates when the graph is split;
- `analyzer`: the verdict of `tf.lite.experimental.Analyzer(
  gpu_compatibility=True)`, LiteRT's own analysis.

Op placement does not depend on trained weights or calibration quality,
so untrained presets and two calibration crops are used.

Run by hand (not a test):

    # table + benchmarks/results/gpu_placement.json
    python benchmarks/gpu_placement.py
    python benchmarks/gpu_placement.py --presets nlsn_small_x2 --variants none
"""

import argparse
import json
import os
import sys
import tempfile

PRESETS = ("enlcn_small_x2", "nlsn_small_x2", "a2n_small_x2", "edsr_small_x2")
VARIANTS = ("none", "float16", "int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--size", type=int, default=64, help="Fixed LR tile side.")
    parser.add_argument(
        "--any-size", action="store_true", help="Also export with any input size."
    )
    parser.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "results", "gpu_placement.json"
        ),
    )
    return parser.parse_args(argv)


def _fallback(details):
    return ", ".join(
        f"{name} x{row['count']}" for name, row in details["fallback"].items()
    )


def measure(model, variant, tile, folder):
    from keras_enlca.export import export_model

    name = f"{variant}_{tile[0]}x{tile[1]}" if tile else f"{variant}_any"
    out = os.path.join(folder, f"{name}.tflite")
    metadata = export_model(
        model,
        out,
        quantize=variant,
        input_size=tile,
        num_calibration_crops=2,
        overwrite=True,
    )
    placement = metadata["gpu_placement"]
    return {
        "variant": variant,
        "tile": list(tile) if tile else None,
        "ops": placement["gpu"]["ops"],
        "gpu": placement["gpu"],
        "web": placement["web"],
        "analyzer": placement["analyzer"],
    }


def print_table(rows):
    header = (
        f"{'model':16} {'variant':8} {'input':7} {'ops':>4} {'gpu':>6} "
        f"{'gpu part.':>9} {'web':>6} {'analyzer':>10}  CPU ops (gpu | web)"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        gpu, web = row["gpu"], row["web"]
        verdict = row["analyzer"]
        verdict = (
            "n/a" if verdict is None else ("ok" if verdict["compatible"] else "issues")
        )
        size = "x".join(map(str, row["tile"])) if row["tile"] else "any"
        print(
            f"{row['model']:16} {row['variant']:8} {size:7} {row['ops']:>4} "
            f"{gpu['share']:>6.1%} {gpu['largest_partition'] / row['ops']:>9.1%} "
            f"{web['share']:>6.1%} {verdict:>10}  "
            f"{_fallback(gpu) or '-'} | {_fallback(web) or '-'}"
        )


def main(argv=None):
    args = parse_args(argv)
    import numpy as np

    from keras_enlca.models import from_preset

    rows = []
    tiles = [(args.size, args.size)] + ([None] if args.any_size else [])
    with tempfile.TemporaryDirectory(prefix="enlca-gpu-placement-") as folder:
        for preset in args.presets:
            model = from_preset(preset)
            model(np.zeros((1, 16, 16, 3), "float32"))
            path = os.path.join(folder, f"{preset}.keras")
            model.save(path)
            for variant in args.variants:
                for tile in tiles:
                    row = {"model": preset, **measure(path, variant, tile, folder)}
                    rows.append(row)
                    print(f"measured {preset} {variant} {tile}", file=sys.stderr)
    print_table(rows)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"size": args.size, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
