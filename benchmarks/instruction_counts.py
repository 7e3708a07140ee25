"""Instructions executed by the compiled score kernel, float32 vs float64 (valgrind callgrind).

    python benchmarks/instruction_counts.py [--rows 48] [--ones 0.0 0.11]

Timing on a shared machine is noisy; instruction counts are not.  For each
dtype and fraction of ones, scores `rows` random MNIST-sized rows (n = 784,
d = 500) under callgrind and prints the instructions executed in the
kernels and the float64/float32 ratio.  valgrind emulates no AVX-512,
so the counts are those of the AVX2 kernels (dispatch picks them there).
An instruction ratio r bounds the float64/float32 speed ratio by 1/r at equal
instructions per cycle.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHILD = """
import sys, numpy as np
from nadefast import NADE
rng = np.random.default_rng(0)
n, d = 784, 500
W = rng.normal(0, 0.05, (d, n)); b = rng.normal(0, 0.1, d); V = rng.normal(0, 0.05, (n, d))
X = (rng.random((int(sys.argv[3]), n)) < float(sys.argv[2])).astype(np.uint8)
model = NADE.from_params(W, b, V, np.zeros(n), dtype=sys.argv[1])
model.n_jobs = 1
model.score_samples(X)
"""


def kernel_instructions(out_file, dtype):
    """Instructions executed in the kernels of one dtype: the exclusive counts of
    every function named *_f32_<isa> (or *_f64_<isa>), summed -- a build with
    debug information lists a function once per source file it inlines."""
    text = subprocess.run(["callgrind_annotate", out_file], capture_output=True, text=True,
                          check=True).stdout
    suffix = "f32" if dtype == "float32" else "f64"
    total = 0
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s.*:\w+_%s_(baseline|avx2|avx512)(\.\w+)* " % suffix, line)
        if m:
            total += int(m.group(1).replace(",", ""))
    if not total:
        raise RuntimeError(f"no {suffix} kernel in the callgrind output")
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--ones", type=float, nargs="+", default=[0.0, 0.11])
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        raise SystemExit("needs valgrind (callgrind) on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        child = os.path.join(tmp, "child.py")
        with open(child, "w") as f:
            f.write(CHILD)
        print(f"score kernel, n = 784, d = 500, {args.rows} rows, 1 thread (AVX2 kernels under valgrind)")
        for ones in args.ones:
            counts = {}
            for dtype in ("float32", "float64"):
                out = os.path.join(tmp, f"cg.{dtype}.out")
                subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                sys.executable, child, dtype, str(ones), str(args.rows)],
                               check=True, capture_output=True)
                counts[dtype] = kernel_instructions(out, dtype)
            ratio = counts["float64"] / counts["float32"]
            print(f"ones {ones:.2f}: float32 {counts['float32']:,}  float64 {counts['float64']:,}  "
                  f"float64/float32 {ratio:.2f}  (speed ratio at equal IPC <= {1 / ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
