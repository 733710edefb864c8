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

    # table + benchmarks/results/training_small.json
    python benchmarks/training.py
    python benchmarks/training.py --batch-size 16 --repeats 5
    python benchmarks/training.py --size paper --batch-size 1 --repeats 3
    # benchmarks/results/training_workers2.json
    python benchmarks/training.py --workers 2

`--workers N` times `enlcn` training steps (`DistributedTrainer`, the loop of
`enlca train --strategy multi_worker`) on N local worker processes
(MultiWorkerMirroredStrategy over 127.0.0.1) against one process at the same
global batch, and the all-reduce of one step's gradients on its own. On a
machine with fewer cores than workers this measures overhead, not speed-up.
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
        "--workers",
        type=int,
        default=0,
        help="compare N local workers with one process",
    )
    parser.add_argument(
        "--worker-index", type=int, default=None, help=argparse.SUPPRESS
    )
    parser.add_argument("--worker-output", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--output",
        default=None,
        help="JSON output (default: benchmarks/results/training_<size>.json)",
    )
    args = parser.parse_args()
    if args.worker_output is not None:
        return time_worker(args)
    if args.workers:
        return compare_workers(args)
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
        print(
            f"built {variant}: {params[variant]:,} parameters, "
            f"trace + {args.warmup} steps {setup[variant]:.1f} s",
            flush=True,
        )

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
        rows.append(
            {
                "variant": variant,
                "parameters": params[variant],
                "median_step_s": median,
                "min_step_s": min(times[variant]),
                "patches_per_s": args.batch_size / median,
                "overhead_vs_backbone": None if base is None else median / base - 1.0,
            }
        )

    print()
    print(
        f"{args.size} presets, batch {args.batch_size} x {args.patch}x{args.patch} "
        f"LR patches, x{args.scale}, median of {args.repeats} interleaved steps"
    )
    print(
        f"{'variant':<15} {'params':>10} {'step ms':>9} {'patches/s':>10} "
        f"{'overhead':>9}"
    )
    for row in rows:
        overhead = row["overhead_vs_backbone"]
        overhead = "" if overhead is None else f"{100 * overhead:+.1f}%"
        print(
            f"{row['variant']:<15} {row['parameters']:>10,} "
            f"{1000 * row['median_step_s']:>9.1f} {row['patches_per_s']:>10.2f} "
            f"{overhead:>9}"
        )
    by_name = {row["variant"]: row for row in rows}
    verdict = None
    if "enlcn" in by_name and base is not None:
        overhead = by_name["enlcn"]["overhead_vs_backbone"]
        verdict = overhead <= TARGET_OVERHEAD
        print(
            f"\nENLCA (+ contrastive) overhead {100 * overhead:.1f}% "
            f"(target <= {100 * TARGET_OVERHEAD:.0f}%): "
            f"{'met' if verdict else 'NOT met'}"
        )

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


def time_worker(args):
    """One process of `--workers`: time training steps and gradient all-reduces."""
    import numpy as np

    from keras_enlca.training import DistributedTrainer
    from keras_enlca.training import get_strategy

    name = "multi_worker" if args.worker_index is not None else "one_device"
    strategy = get_strategy(name)
    import tensorflow as tf

    with strategy.scope():
        model = build("enlcn", args.scale, args.size)
        model.build((None, None, None, 3))
    rng = np.random.default_rng(0)
    lr = rng.random((args.batch_size, args.patch, args.patch, 3), dtype=np.float32)
    hr = rng.random(
        (args.batch_size, args.patch * args.scale, args.patch * args.scale, 3),
        dtype=np.float32,
    )
    trainer = DistributedTrainer(model, strategy)
    dataset = tf.data.Dataset.from_tensors((lr, hr)).repeat()
    iterator = iter(trainer._distribute(dataset))
    train = trainer._train_function()
    one = tf.constant(1)
    for _ in range(args.warmup):
        float(train(iterator, one)["loss"].numpy())
    steps = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        float(train(iterator, one)["loss"].numpy())
        steps.append(time.perf_counter() - start)
    size = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    gradients = tf.ones([size])

    @tf.function
    def all_reduce():
        return strategy.run(
            lambda: tf.distribute.get_replica_context().all_reduce("SUM", gradients)
        )

    reduces = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        strategy.experimental_local_results(all_reduce())[0].numpy()
        if i >= args.warmup:
            reduces.append(time.perf_counter() - start)
    with open(args.worker_output, "w") as f:
        json.dump({"step_s": steps, "all_reduce_s": reduces, "parameters": size}, f)


def compare_workers(args):
    import subprocess
    import sys
    import tempfile

    sys.path.insert(
        0,
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "tests", "training"
        ),
    )
    from multi_worker_launch import free_ports
    from multi_worker_launch import tf_config

    if args.output is None:
        args.output = os.path.join(
            os.path.dirname(os.path.abspath(__file__)),
            "results",
            f"training_workers{args.workers}.json",
        )
    common = [
        sys.executable,
        os.path.abspath(__file__),
        "--batch-size",
        str(args.batch_size),
        "--patch",
        str(args.patch),
        "--scale",
        str(args.scale),
        "--size",
        args.size,
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        single = os.path.join(tmp, "single.json")
        subprocess.run(
            common + ["--worker-output", single], env=env, check=True, timeout=1800
        )
        ports = free_ports(args.workers)
        processes = []
        try:
            for index in range(args.workers):
                processes.append(
                    subprocess.Popen(
                        common
                        + [
                            "--worker-index",
                            str(index),
                            "--worker-output",
                            os.path.join(tmp, f"worker{index}.json"),
                        ],
                        env=dict(env, TF_CONFIG=tf_config(ports, index)),
                    )
                )
            for process in processes:
                if process.wait(timeout=1800):
                    raise SystemExit("a worker failed")
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        with open(single) as f:
            results["one_process"] = json.load(f)
        for index in range(args.workers):
            with open(os.path.join(tmp, f"worker{index}.json")) as f:
                results[f"worker{index}"] = json.load(f)
    one = statistics.median(results["one_process"]["step_s"])
    many = statistics.median(results["worker0"]["step_s"])
    reduce = statistics.median(results["worker0"]["all_reduce_s"])
    rows = [
        {
            "setup": "1 process",
            "median_step_s": one,
            "steps_per_s": 1 / one,
            "all_reduce_s": None,
        },
        {
            "setup": f"{args.workers} workers",
            "median_step_s": many,
            "steps_per_s": 1 / many,
            "all_reduce_s": reduce,
        },
    ]
    print(
        f"\nenlcn_{args.size}_x{args.scale}, global batch {args.batch_size} x "
        f"{args.patch}x{args.patch} LR, {results['worker0']['parameters']:,} "
        f"parameters, {os.cpu_count()} CPU cores, median of {args.repeats} steps"
    )
    print(f"{'setup':<12} {'step ms':>9} {'steps/s':>8} {'all-reduce ms':>14}")
    for row in rows:
        reduce_s = row["all_reduce_s"]
        reduce_ms = "" if reduce_s is None else f"{1000 * reduce_s:.1f}"
        print(
            f"{row['setup']:<12} {1000 * row['median_step_s']:>9.1f} "
            f"{row['steps_per_s']:>8.2f} {reduce_ms:>14}"
        )
    print(f"{args.workers} workers / 1 process: {one / many:.2f}x the steps/s")
    import platform as _platform

    from keras_enlca.utils.atomic import atomic_path

    result = {
        "benchmark": "training_workers",
        "settings": vars(args),
        "machine": {"platform": _platform.platform(), "cpu_count": os.cpu_count()},
        "rows": rows,
        "speedup": one / many,
        "times_s": results,
    }
    with atomic_path(args.output) as tmp_path:
        with open(tmp_path, "w") as f:
            json.dump(result, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
