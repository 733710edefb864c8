"""Forward latency, peak memory and FLOPs of the attention layers.

Compares standard non-local attention (NLA), NLSA (4 hashing rounds), ENLCA
with m = 128 and m = 16 random features, and a 3x3 64->64 convolution, on
64-channel inputs of 48x48 to 200x200 positions: the setting of Table 4 of
the ENLCA paper (100x100 input, 64 input and output channels, embeddings of
64 channels, so `reduction=1`).

Latency: for each input size, all operations are timed in one process,
interleaved (one forward of each in turn, `--repeats` rounds), so that the
ratios between them hold even on a noisy machine; the median per operation
is reported, batch 1, `tf.function` after warm-up. Peak memory: each
configuration runs once more in its own subprocess, whose peak resident
memory (`VmHWM`, reset before the forward) minus its resident size before
the forward is that configuration's own.

Run by hand (not a test):

    # table + benchmarks/results/attention.json
    python benchmarks/attention.py
    python benchmarks/attention.py --sizes 48 100   # a subset
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

CHANNELS = 64
OPS = ("nla", "nlsa_r4", "enlca_m128", "enlca_m16", "conv3x3")
PAPER_GFLOPS_100 = {"nla": 25.60, "nlsa_r4": 5.08, "enlca_m128": 0.66, "conv3x3": 0.74}


def analytic_gflops(op, size):
    """Attention-core FLOPs (multiply-add = 2), Table 4's counting.

    The paper's figures count the attention products only, not the 1x1
    embeddings; `embedding_gflops` gives those separately.
    """
    positions = size * size
    d = CHANNELS
    if op == "nla":
        return 2 * positions * positions * (d + d) / 1e9
    if op.startswith("enlca"):
        m = int(op.split("_m")[1])
        # phi(Q), phi(K), phi(K)^T V, phi(Q) (.) context.
        return 4 * 2 * positions * m * d / 1e9
    if op == "nlsa_r4":
        rounds, chunk = 4, 144
        buckets = min(positions // chunk + (positions // chunk) % 2, 128)
        hashing = 2 * positions * d * max(buckets // 2, 1) * rounds
        attention = 2 * 2 * positions * 3 * chunk * d * rounds
        return (hashing + attention) / 1e9
    if op == "conv3x3":
        return 2 * positions * 9 * d * d / 1e9
    raise ValueError(op)


def embedding_gflops(op, size):
    positions = size * size
    count = {"nla": 3, "enlca_m128": 3, "enlca_m16": 3, "nlsa_r4": 1, "conv3x3": 0}[op]
    extra = 2 * positions * 9 * CHANNELS * CHANNELS if op == "nlsa_r4" else 0
    return (count * 2 * positions * CHANNELS * CHANNELS + extra) / 1e9


def build(op):
    import keras

    from keras_enlca.layers import ENLCA
    from keras_enlca.layers import NonLocalAttention
    from keras_enlca.layers import NonLocalSparseAttention

    if op == "nla":
        return NonLocalAttention(reduction=1)
    if op == "nlsa_r4":
        return NonLocalSparseAttention(n_hashes=4, chunk_size=144, reduction=1)
    if op.startswith("enlca"):
        return ENLCA(reduction=1, num_random_features=int(op.split("_m")[1]))
    return keras.layers.Conv2D(CHANNELS, 3, padding="same")


def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def make_forward(op, size, jit):
    import numpy as np
    import tensorflow as tf

    layer = build(op)
    x = tf.constant(
        np.random.default_rng(0).random((1, size, size, CHANNELS), np.float32)
    )
    layer.build(x.shape)
    forward = tf.function(lambda t: layer(t), jit_compile=jit)
    forward.get_concrete_function(x)
    return lambda: forward(x).numpy()


def memory_worker(op, size, jit):
    forward = make_forward(op, size, jit)
    # ru_maxrss survives exec (a child starts at its parent's peak): reset
    # the high-water mark instead and read VmHWM.
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    baseline = status_kib("VmRSS")
    forward()
    peak = status_kib("VmHWM")
    return {"peak_memory_mib": max(peak - baseline, 0) / 1024}


def peak_memory(op, size, jit, timeout):
    command = [sys.executable, __file__, "--memory-worker", op, str(size)]
    if jit:
        command.append("--jit")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"memory_error": f"timeout after {timeout} s"}
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["killed (out of memory?)"])[-1]
        return {"memory_error": reason[:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_interleaved(ops, size, repeats, jit, nla_repeats):
    """Median latency (ms) of each op, measured in alternation."""
    import gc

    import numpy as np

    forwards = {}
    for op in ops:
        forwards[op] = make_forward(op, size, jit)
        forwards[op]()  # warm-up
    times = {op: [] for op in ops}
    for round_index in range(repeats):
        for op in ops:
            if op == "nla" and round_index >= nla_repeats:
                continue
            start = time.perf_counter()
            forwards[op]()
            times[op].append(time.perf_counter() - start)
    forwards.clear()
    gc.collect()
    return {op: 1e3 * float(np.median(t)) for op, t in times.items()}


def summarise(rows):
    table = {(r["op"], r["size"]): r["latency_ms"] for r in rows}
    summary = {}
    if ("nla", 150) in table and ("enlca_m128", 150) in table:
        summary["nla_over_enlca_m128_at_150"] = (
            table["nla", 150] / table["enlca_m128", 150]
        )
    for size in (100, 150):
        if ("conv3x3", size) in table and ("enlca_m128", size) in table:
            summary[f"enlca_m128_over_conv3x3_at_{size}"] = (
                table["enlca_m128", size] / table["conv3x3", size]
            )
    if ("enlca_m128", 100) in table and ("enlca_m128", 200) in table:
        summary["enlca_m128_time_exponent_in_hw_100_to_200"] = math.log(
            table["enlca_m128", 200] / table["enlca_m128", 100]
        ) / math.log(4.0)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 100, 150, 200])
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--jit", action="store_true", help="XLA-compile every forward")
    parser.add_argument(
        "--max-nla-size",
        type=int,
        default=200,
        help="skip NLA above this size (its score matrix is 4 (HW)^2 bytes)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=900,
        help="seconds allowed to each memory subprocess",
    )
    parser.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "results", "attention.json"),
    )
    parser.add_argument(
        "--memory-worker", nargs=2, metavar=("OP", "SIZE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    if args.memory_worker:
        op, size = args.memory_worker[0], int(args.memory_worker[1])
        print(json.dumps(memory_worker(op, size, args.jit)))
        return

    rows = []
    header = (
        f"{'op':<11} {'size':>5} {'latency ms':>11} {'peak MiB':>9} {'GFLOPs':>8} "
        f"{'+embed':>7} {'paper@100':>9}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        ops = [op for op in args.ops if not (op == "nla" and size > args.max_nla_size)]
        nla_repeats = max(2, args.repeats // 5) if size >= 150 else args.repeats
        latencies = time_interleaved(ops, size, args.repeats, args.jit, nla_repeats)
        for op in ops:
            row = {
                "op": op,
                "size": size,
                "latency_ms": latencies[op],
                "gflops": analytic_gflops(op, size),
                "embedding_gflops": embedding_gflops(op, size),
            }
            row.update(peak_memory(op, size, args.jit, args.timeout))
            rows.append(row)
            paper = PAPER_GFLOPS_100.get(op, "") if size == 100 else ""
            memory = (
                f"{row['peak_memory_mib']:>9.1f}"
                if "peak_memory_mib" in row
                else f"{'n/a':>9}"
            )
            print(
                f"{op:<11} {size:>5} {row['latency_ms']:>11.2f} {memory} "
                f"{row['gflops']:>8.3f} {row['embedding_gflops']:>7.3f} {paper!s:>9}",
                flush=True,
            )
    summary = summarise(rows)
    print()
    for key, value in summary.items():
        print(f"{key}: {value:.3f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "summary": summary, "jit": args.jit}, f, indent=2)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
