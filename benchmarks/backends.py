"""Attention layers and a training step on each Keras backend, as ratios.

The `--backend` column of the attention and training benchmarks: ENLCA
(m = 128), NLSA (4 rounds), NLA and a 3x3 64->64 convolution (batch 1,
64 channels, `reduction=1` as in Table 4 of the ENLCA paper), and one
`train_on_batch` step of `enlcn_small_x2`, timed under TensorFlow, JAX and
PyTorch. Each backend runs in its own process; within it, the operations are
timed interleaved (one call of each in turn, `--repeats` rounds, median), so
the ratios to the convolution hold on a noisy machine. Compiled where the
backend compiles: `tf.function` (TensorFlow; `--xla` adds `jit_compile`),
`jax.jit` (JAX, always XLA), eager (PyTorch).

Run by hand (not a test):

    python benchmarks/backends.py                    # table + results/backends.json
    python benchmarks/backends.py --size 100 --backends jax tensorflow
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
OPS = ("enlca_m128", "nlsa_r4", "nla", "conv3x3", "train_enlcn_small_x2")
CHANNELS = 64


def _layer(op):
    import keras

    from keras_enlca.layers import ENLCA
    from keras_enlca.layers import NonLocalAttention
    from keras_enlca.layers import NonLocalSparseAttention

    if op == "nla":
        return NonLocalAttention(reduction=1)
    if op == "nlsa_r4":
        return NonLocalSparseAttention(n_hashes=4, chunk_size=144, reduction=1)
    if op == "enlca_m128":
        return ENLCA(reduction=1, num_random_features=128)
    return keras.layers.Conv2D(CHANNELS, 3, padding="same")


def _forward(op, size, xla):
    """A no-argument callable running `op` once and waiting for its result."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    x = np.random.default_rng(0).random((1, size, size, CHANNELS), np.float32)
    inputs = keras.Input((size, size, CHANNELS))
    model = keras.Model(inputs, _layer(op)(inputs))
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda t: model(t), jit_compile=xla)
        x = tf.constant(x)
        return lambda: fn(x).numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        fn = jax.jit(lambda t: model.stateless_call(trainable, non_trainable, t)[0])
        return lambda: fn(x).block_until_ready()
    import torch

    x = torch.as_tensor(x)

    def run():
        with torch.no_grad():
            return model(x).numpy()

    return run


def _train_step(patch, xla):
    import keras
    import numpy as np

    from keras_enlca.models import from_preset
    from keras_enlca.models import reference_adam

    model = from_preset("enlcn_small_x2")
    model.compile(
        optimizer=reference_adam(1e-4),
        contrastive_warmup_steps=0,
        jit_compile=xla if keras.backend.backend() == "tensorflow" else "auto",
    )
    rng = np.random.default_rng(0)
    lr = rng.random((4, patch, patch, 3), np.float32)
    hr = rng.random((4, 2 * patch, 2 * patch, 3), np.float32)
    return lambda: model.train_on_batch(lr, hr)


def worker(size, patch, repeats, xla):
    import keras

    calls = {op: _forward(op, size, xla) for op in OPS[:-1]}
    calls[OPS[-1]] = _train_step(patch, xla)
    for call in calls.values():  # compile and warm up
        call()
        call()
    times = {op: [] for op in calls}
    for _ in range(repeats):
        for op, call in calls.items():
            start = time.perf_counter()
            call()
            times[op].append(time.perf_counter() - start)
    medians = {op: statistics.median(t) * 1e3 for op, t in times.items()}
    return {"backend": keras.backend.backend(), "ms": medians}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--size", type=int, default=48, help="attention input size")
    parser.add_argument("--patch", type=int, default=48, help="LR training patch")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--xla", action="store_true", help="TensorFlow: jit_compile")
    parser.add_argument("--out", default="benchmarks/results/backends.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.size, args.patch, args.repeats, args.xla)))
        return
    rows = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--worker", "--size", str(args.size)]
        command += ["--patch", str(args.patch), "--repeats", str(args.repeats)]
        command += ["--xla"] if args.xla else []
        env = dict(os.environ, KERAS_BACKEND=backend)
        output = subprocess.run(
            command, env=env, capture_output=True, text=True, check=True
        ).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    header = f"{'backend':<11}" + "".join(f"{op:>22}" for op in OPS)
    print(f"{args.size}x{args.size} attention input, LR patch {args.patch}, batch 4")
    print(header)
    for row in rows:
        ms = row["ms"]
        cells = "".join(
            f"{ms[op]:>10.1f} ms {ms[op] / ms['conv3x3']:>5.2f}x" for op in OPS
        )
        print(f"{row['backend']:<11}{cells}")
    print("(ratios: time / the same backend's 3x3 convolution)")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
