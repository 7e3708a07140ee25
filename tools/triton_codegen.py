"""Compile the fused Triton kernels (nadefast/backends/_triton.py) for a CUDA GPU without
one: Triton's ahead-of-time path (ASTSource -> TTIR -> PTX -> cubin, with the ptxas its wheel
ships), then the registers, stack (spills) and shared memory of each variant from the
cubin (cuobjdump, also shipped).  Checks that the GPU code generation works where no GPU
is at hand (the interpreter tests check the arithmetic only) and shows which launch
settings spill, before a GPU session measures them.

    python tools/triton_codegen.py [--arch 90] [--d 500] [--defaults] [--json]

Exit status 1 when a variant fails to compile.  TRITON_INTERPRET must be unset (the
kernels are then compiled, not interpreted): the script removes it before importing.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

os.environ.pop("TRITON_INTERPRET", None)
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, without a warning

# (block_rows, num_warps) of the sampler and the scorer to compile: the defaults' neighbours
CONFIGS = ((1, 1), (1, 2), (2, 2), (4, 4), (8, 4), (8, 8), (16, 4), (16, 8), (32, 8))


def _compile(fn, signature, constexprs, arch, num_warps):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernel = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                            target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})
    return kernel.asm["cubin"]


def _resources(cubin):
    """{'REG': .., 'STACK': .., 'SHARED': ..} of a cubin, None without cuobjdump."""
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                        "cuobjdump")
    if not os.path.exists(tool):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.cubin")
        with open(path, "wb") as f:
            f.write(cubin)
        out = subprocess.run([tool, "--dump-resource-usage", path], capture_output=True,
                             text=True).stdout
    return {k: int(v) for k, v in re.findall(r"(REG|STACK|SHARED):(\d+)", out)}


def variants(d, defaults_only=False):
    """Every kernel variant the torch backend launches by default (large requests), and
    unless defaults_only the float32 sampler and scorer at the block settings of CONFIGS."""
    from nadefast.backends import _triton as T
    from nadefast.backends import _triton_grad as G

    block_d = T._block_d(d)
    configs = ((T.BLOCK_ROWS, T.NUM_WARPS),) if defaults_only else CONFIGS
    for dt in ("fp32", "fp64"):
        model = {"W_ptr": f"*{dt}", "V_ptr": f"*{dt}", "c_ptr": f"*{dt}", "b_ptr": f"*{dt}",
                 "rows": "i32", "n": "i32", "d": "i32", "BLOCK_R": "constexpr",
                 "BLOCK_D": "constexpr", "SKIP": "constexpr"}
        sample = {"xs_ptr": "*i8", "eps_ptr": "*fp64", "given_ptr": "*i32", **model,
                  "GREEDY": "constexpr", "HAS_GIVEN": "constexpr"}
        score = {"xs_ptr": "*i8", "out_ptr": "*fp64", **model}
        for br, nw in configs if dt == "fp32" else ((T.BLOCK_ROWS, T.NUM_WARPS),):
            for greedy, given in ((False, False), (True, True)) if (br, nw) == (
                    T.BLOCK_ROWS, T.NUM_WARPS) else ((False, False),):
                yield (f"sample {dt} block {br} warps {nw}" + (" greedy+given" if greedy else ""),
                       T._sample_kernel, sample,
                       dict(BLOCK_R=br, BLOCK_D=block_d, GREEDY=greedy, HAS_GIVEN=given,
                            SKIP=True), nw)
            yield (f"score {dt} block {br} warps {nw}", T._score_kernel, score,
                   dict(BLOCK_R=br, BLOCK_D=block_d, SKIP=True), nw)
        grad = {"xs_ptr": "*i8", "delta_ptr": f"*{dt}", "nll_ptr": "*fp64", "gW_ptr": f"*{dt}",
                "gV_ptr": f"*{dt}", "gc_ptr": f"*{dt}", "gb_ptr": f"*{dt}",
                **{k: v for k, v in model.items() if k != "SKIP"}}
        for br, nw in ((1, 2), (2, 2), (4, 4), (8, 4)) if dt == "fp32" and \
                not defaults_only else ((G.BLOCK_ROWS, T.NUM_WARPS),):
            yield (f"grad {dt} block {br} warps {nw}", G._grad_kernel, grad,
                   dict(BLOCK_R=br, BLOCK_D=block_d), nw)
    from nadefast.backends import _triton_oa as OA

    for dt in ("fp32", "fp64"):
        step = {"A1_ptr": f"*{dt}", "H1_ptr": f"*{dt}", "Z_ptr": f"*{dt}", "bt_ptr": f"*{dt}",
                "xs_ptr": "*i8", "order_ptr": "*i32", "order_stride": "i32",
                "stop_ptr": "*i32", "ll_ptr": "*fp64", "terms_ptr": "*fp64",
                "MT_ptr": f"*{dt}", "WT_ptr": f"*{dt}", "V_ptr": f"*{dt}", "c_ptr": f"*{dt}",
                "rows": "i32", "n": "i32", "d": "i32", "k0": "i32", "k1": "i32",
                "n_update": "i32", "BLOCK_R": "constexpr", "BLOCK_D": "constexpr",
                "DEEP": "constexpr", "HAS_STOP": "constexpr", "HAS_TERMS": "constexpr"}
        for deep, stop, terms in ((True, False, False), (False, False, False),
                                  (True, True, False), (True, False, True)):
            tag = ("deep" if deep else "one layer") + (" stop" if stop else "") + (
                " terms" if terms else "")
            yield (f"oa_step {dt} block {OA.BLOCK_ROWS} warps {OA.NUM_WARPS} {tag}",
                   OA._oa_step_kernel, step,
                   dict(BLOCK_R=OA.BLOCK_ROWS, BLOCK_D=block_d, DEEP=deep, HAS_STOP=stop,
                        HAS_TERMS=terms), OA.NUM_WARPS)
        draw = {k: v for k, v in step.items() if k not in (
            "stop_ptr", "ll_ptr", "terms_ptr", "HAS_STOP", "HAS_TERMS")}
        draw.update(eps_ptr="*fp64", kept_ptr="*i32", GREEDY="constexpr", HAS_KEPT="constexpr")
        for deep, greedy, kept in ((True, False, False), (False, False, False),
                                   (True, True, True)):
            tag = ("deep" if deep else "one layer") + (" greedy+kept" if greedy else "")
            yield (f"oa_sample {dt} block {OA.BLOCK_ROWS} warps {OA.NUM_WARPS} {tag}",
                   OA._oa_sample_kernel, draw,
                   dict(BLOCK_R=OA.BLOCK_ROWS, BLOCK_D=block_d, DEEP=deep, GREEDY=greedy,
                        HAS_KEPT=kept), OA.NUM_WARPS)
    noise = {"out_ptr": "*fp64", "consts_ptr": "*i64", "rows": "i32", "n": "i32",
             "BLOCK_R": "constexpr", "BLOCK_B": "constexpr", "BITS": "constexpr",
             "NATIVE": "constexpr"}
    for native in (True, False):
        yield (f"noise {'umulhi' if native else 'halves'}", T._noise_kernel, noise,
               dict(BLOCK_R=T.NOISE_BLOCK_ROWS, BLOCK_B=T.NOISE_BLOCK_WORDS, BITS=False,
                    NATIVE=native), 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="compute capability x 10 (90: H100/H200)")
    ap.add_argument("--d", type=int, default=500, help="hidden units (BLOCK_D is its power of 2)")
    ap.add_argument("--json", action="store_true", help="one JSON list on stdout")
    ap.add_argument("--defaults", action="store_true", help="the default launches' variants only")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rows, failed = [], 0
    for name, fn, signature, constexprs, num_warps in variants(args.d, args.defaults):
        try:
            res = _resources(_compile(fn, signature, constexprs, args.arch, num_warps))
            rows.append({"variant": name, "ok": True, "resources": res})
        except Exception as exc:  # report every variant, then fail
            failed += 1
            rows.append({"variant": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        if not args.json:
            r = rows[-1]
            print(f"{r['variant']:40s} " + (str(r["resources"]) if r["ok"] else r["error"]),
                  flush=True)
    if args.json:
        print(json.dumps(rows))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
