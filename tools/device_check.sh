#!/usr/bin/env bash
# The one command a GPU session runs for issue 19 (docs/gpu.md): build the compiled core,
# run benchmarks/gpu.py (checks against the compiled core, then the timings beside
# gpu_floor.py's reference points), then the fused kernels' tests compiled on the GPU, then
# the torch backend's tests on the GPU, as far as the time allows.  Everything it writes
# lands in $OUT (the device tool's folder that comes back; else the folder given).
#
#   bash tools/device_check.sh --prepare           # here, first: gpu_floor.py into benchmarks/floor/
#   bash tools/device_check.sh                     # on the GPU machine (OUT set by the tool)
#   bash tools/device_check.sh --dry-run [DIR]     # here, on the CPU: same steps, Triton's
#                                                  # interpreter, tiny sizes (~2-3 min)
#
# The device session's call (one H200; it has torch, triton, numpy, Cython, setuptools and a
# C compiler, and no network, so nothing is installed there; its Python is 3.12, so the core
# is built there, ~1 min, rather than carried as a wheel built here):
#
#   bash tools/device_check.sh --prepare       # copies ../shared/bench/gpu_floor.py (ignored)
#   run(command="bash tools/device_check.sh", carry=["benchmarks/floor"], timeout_s=560)
#
# The tool sends the checkout the session was started in: this script and the kernels must
# be in it (merged), and benchmarks/floor/ beside them.
#
# then copy results_gpu.md/.json from the returned files into benchmarks/ and commit them.
# The steps' time limits add up to about 530 s, inside the 10-minute limit of one command.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--prepare" ]]; then
    src="${NADEFAST_GPU_FLOOR:-../shared/bench/gpu_floor.py}"
    mkdir -p benchmarks/floor && cp -f "$src" benchmarks/floor/gpu_floor.py || exit 1
    git check-ignore -q benchmarks/floor/gpu_floor.py || { echo "benchmarks/floor is not ignored"; exit 1; }
    echo "copied $src to benchmarks/floor/ (git-ignored; carry it: carry=[\"benchmarks/floor\"])"
    exit 0
fi

dry=0
if [[ "${1:-}" == "--dry-run" ]]; then
    dry=1
    out="${2:-$(mktemp -d)}"
else
    out="${OUT:-benchmarks}"
fi
mkdir -p "$out"
py="$(command -v python3 || command -v python)"
[[ -n "${VIRTUAL_ENV:-}" ]] && py="$VIRTUAL_ENV/bin/python"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -m), $("$py" --version 2>&1), dry run: $dry"
[[ $dry == 0 ]] && { nvidia-smi -L || true; }

# 1. the compiled core, in place (the checks compare with it)
if ! (cd /tmp && PYTHONPATH="$OLDPWD" "$py" -c "import nadefast._core") 2>/dev/null; then
    echo "== building nadefast._core (log: build.log)"
    if ! timeout 150 "$py" setup.py build_ext --inplace -j "$(nproc)" >"$out/build.log" 2>&1; then
        tail -20 "$out/build.log"
        echo "BUILD FAILED"
        exit 1
    fi
fi

# 2. the comparison (< 5 min on an H200)
echo "== benchmarks/gpu.py (log: gpu.log)"
args=(--out "$out")
[[ $dry == 1 ]] && args+=(--dry-run)
timeout 330 "$py" benchmarks/gpu.py "${args[@]}" 2>&1 | tee "$out/gpu.log" || status=1

# 3. the fused kernels' tests, compiled for the GPU (here: the interpreter)
echo "== tests/test_triton_kernels.py tests/test_triton_oa.py (log: tests_triton.log)"
device=cuda
[[ $dry == 1 ]] && device=cpu
NADEFAST_TORCH_DEVICE=$device NADEFAST_REQUIRE_TRITON=1 NADEFAST_REQUIRE_TORCH=1 \
    timeout 120 "$py" -m pytest -q -p no:cacheprovider tests/test_triton_kernels.py \
    tests/test_triton_oa.py \
    >"$out/tests_triton.log" 2>&1 || status=1
tail -3 "$out/tests_triton.log"

# 4. the torch backend's tests on the GPU (the fused kernels serve them there), while time lasts
if [[ $dry == 0 ]]; then
    echo "== tests/test_torch_backend.py on cuda (log: tests_torch.log; stopped after 60 s)"
    NADEFAST_TORCH_DEVICE=cuda timeout 60 "$py" -m pytest -q -x -p no:cacheprovider \
        tests/test_torch_backend.py >"$out/tests_torch.log" 2>&1
    rc=$?
    tail -3 "$out/tests_torch.log"
    [[ $rc == 124 ]] && echo "(stopped at its time limit: not a failure)"
    [[ $rc != 0 && $rc != 124 ]] && status=1
fi
echo "== done, status $status; files in $out: $(ls "$out" | tr '\n' ' ')"
exit $status
