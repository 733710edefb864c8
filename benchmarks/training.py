"""Training throughput: EDSR backbone vs the same trunk with ENLCA or NLSA.

Times one optimizer step (forward, L1 (+ contrastive) loss, backward, Adam
update; `tf.function`, no data pipeline) of presets that share one trunk.
`--size small` (default): the small CPU presets, 8 residual blocks, 64
filters, 2 attention modules; `--size paper`: the papers' networks, 32
blocks, 256 filters, 5 attention modules (slow on a CPU: use batch 1).

- `edsr`           the backbone (`edsr_small_x2` / `edsr_x2`);
- `enlcn`          + ENLCA modules, contrastive loss in the objective
                   (after the warm-up);
- `enlcn_warmup`   + ENLCA modules during the warm-up: the contrastive loss
                   is computed and reported but not differentiated;
- `enlcn_no_loss`  + ENLCA modules, `contrastive=None`;
- `nlsn`           + NLSA modules (4 hashes, chunk 144).

All variants are timed interleaved (one step of each in turn, `--repeats`
rounds) so that their ratios hold on a busy machine; the median step time
is reported as LR patches per second and as overhead over the backbone.
The reference training patch is 48x48 LR (2304 positions).

Run by hand (not a test):

    python benchmarks/training.py                     # table + benchmarks/results/training_small.json
    python benchmarks/training.py --batch-size 16 --repeats 5
    python benchmarks/training.py --size paper --batch-size 1 --repeats 3
"""

import argparse
import json
import os
import platform
import statistics
import time

VARIANTS = ("edsr", "enlcn", "enlcn_warmup", "enlcn_no_loss", "nlsn")
TARGET_OVERHEAD = 0.25


def build(variant, scale, size):
    import keras

    from keras_enlca.models import from_preset

    suffix = f"_small_x{scale}" if size == "small" else f"_x{scale}"
    if variant == "edsr":
        model, warmup = from_preset("edsr" + suffix, rgb_range=1.0), 0
    elif variant == "enlcn":
        model, warmup = from_preset("enlcn" + suffix), 0
    elif variant == "enlcn_warmup":
        model, warmup = from_preset("enlcn" + suffix), 10**9
    elif variant == "enlcn_no_loss":
        model, warmup = from_preset("enlcn" + suffix, contrastive=None), 0
    elif variant == "nlsn":
        model, warmup = from_preset("nlsn" + suffix), 0
    else:
        raise ValueError(variant)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4, epsilon=1e-8),
        contrastive_weight=1e-3,
        contrastive_warmup_steps=warmup,
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch", type=int, default=48, help="LR patch size")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--size", choices=("small", "paper"), default="small")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument(
        "--output",
        default=None,
        help="JSON output (default: benchmarks/results/training_<size>.json)",
    )
    args = parser.parse_args()
    if args.output is None:
        args.output = os.path.join(
            os.path.dirname(os.path.abspath(__file__)),
            "results",
            f"training_{args.size}.json",
        )

    import numpy as np
    import tensorflow as tf

    from keras_enlca.models import count_parameters
    from keras_enlca.utils.atomic import atomic_path

    rng = np.random.default_rng(0)
    lr = rng.random((args.batch_size, args.patch, args.patch, 3), dtype=np.float32)
    hr = rng.random(
        (args.batch_size, args.patch * args.scale, args.patch * args.scale, 3),
        dtype=np.float32,
    )
    batch = (tf.constant(lr), tf.constant(hr))

    steps, params, setup = {}, {}, {}
    for variant in args.variants:
        start = time.perf_counter()
        model = build(variant, args.scale, args.size)
        step = tf.function(model.train_step)
        for _ in range(args.warmup):
            float(step(batch)["loss"])
        steps[variant] = step
        params[variant] = count_parameters(model)
        setup[variant] = time.perf_counter() - start
        print(f"built {variant}: {params[variant]:,} parameters, "
              f"trace + {args.warmup} steps {setup[variant]:.1f} s", flush=True)

    times = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):
        for variant in args.variants:
            start = time.perf_counter()
            float(steps[variant](batch)["loss"])
            times[variant].append(time.perf_counter() - start)

    base = statistics.median(times["edsr"]) if "edsr" in times else None
    rows = []
    for variant in args.variants:
        median = statistics.median(times[variant])
        rows.append({
            "variant": variant,
            "parameters": params[variant],
            "median_step_s": median,
            "min_step_s": min(times[variant]),
            "patches_per_s": args.batch_size / median,
            "overhead_vs_backbone": None if base is None else median / base - 1.0,
        })

    print()
    print(f"{args.size} presets, batch {args.batch_size} x {args.patch}x{args.patch} "
          f"LR patches, x{args.scale}, median of {args.repeats} interleaved steps")
    print(f"{'variant':<15} {'params':>10} {'step ms':>9} {'patches/s':>10} {'overhead':>9}")
    for row in rows:
        overhead = row["overhead_vs_backbone"]
        overhead = "" if overhead is None else f"{100 * overhead:+.1f}%"
        print(f"{row['variant']:<15} {row['parameters']:>10,} "
              f"{1000 * row['median_step_s']:>9.1f} {row['patches_per_s']:>10.2f} "
              f"{overhead:>9}")
    by_name = {row["variant"]: row for row in rows}
    verdict = None
    if "enlcn" in by_name and base is not None:
        overhead = by_name["enlcn"]["overhead_vs_backbone"]
        verdict = overhead <= TARGET_OVERHEAD
        print(f"\nENLCA (+ contrastive) overhead {100 * overhead:.1f}% "
              f"(target <= {100 * TARGET_OVERHEAD:.0f}%): "
              f"{'met' if verdict else 'NOT met'}")

    result = {
        "benchmark": "training_step",
        "settings": vars(args),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        "rows": rows,
        "times_s": times,
        "target_overhead": TARGET_OVERHEAD,
        "target_met": verdict,
    }
    with atomic_path(args.output) as tmp:
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
