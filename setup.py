"""Build of the compiled core: nadefast._core = Cython (nadefast/_core.pyx)
over the C kernels of csrc/.

Environment variables (all optional):
  NADEFAST_OPENMP=0     build without OpenMP even if the compiler has it
  NADEFAST_NATIVE=1     add -march=native (for local comparisons only; never
                        for wheels: the default build dispatches at run time)
  NADEFAST_DEBUG=1      -O0 -g, Cython bounds checks on
  NADEFAST_SANITIZE=1   NADEFAST_DEBUG plus AddressSanitizer and UndefinedBehaviorSanitizer
                        (run Python with LD_PRELOAD=$(gcc -print-file-name=libasan.so);
                        see README "Building and testing")
"""
import os
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

C_SOURCES = [
    "csrc/dispatch.c",
    "csrc/oa_masks.c",
    "csrc/isa_baseline.c",
    "csrc/isa_avx2.c",
    "csrc/isa_avx512.c",
]


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _compiler_accepts(compiler, compile_args, link_args, source):
    """Whether `compiler` compiles and links `source` with these flags."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=compile_args)
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=link_args)
        except Exception:
            return False
    return True


OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


class BuildExt(build_ext):
    """Adds compiler-dependent flags: optimisation, strict FP, OpenMP if available."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        compile_args, link_args = [], []
        if ctype == "msvc":
            compile_args += ["/O2", "/fp:precise"]
            omp_compile, omp_link = ["/openmp"], []
        else:
            if _flag("NADEFAST_SANITIZE"):
                sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                            "-fno-omit-frame-pointer"]
                compile_args += ["-O1", "-g"] + sanitize
                link_args += sanitize
            elif _flag("NADEFAST_DEBUG"):
                compile_args += ["-O0", "-g"]
            else:
                # -g0: Python's own CFLAGS add -g; debug info would triple the wheel
                compile_args += ["-O3", "-g0"]
            # Exactly the arithmetic that is written: no contraction into FMA
            # behind our back (the kernels ask for fma() where they want it),
            # so scalar and vectorised code agree bit for bit.  Never -ffast-math.
            compile_args += ["-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]
            compile_args += ["-Wno-unused-function", "-Wno-unreachable-code"]
            if _flag("NADEFAST_NATIVE"):
                compile_args += ["-march=native"]
            omp_compile, omp_link = ["-fopenmp"], ["-fopenmp"]

        use_openmp = os.environ.get("NADEFAST_OPENMP", "1") != "0" and _compiler_accepts(
            self.compiler, omp_compile, omp_link, OPENMP_PROBE
        )
        if use_openmp:
            compile_args += omp_compile
            link_args += omp_link
        print(f"nadefast: OpenMP {'enabled' if use_openmp else 'disabled'}", file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    checks = _flag("NADEFAST_DEBUG") or _flag("NADEFAST_SANITIZE")
    directives = {"language_level": 3, "boundscheck": checks, "wraparound": checks,
                  "initializedcheck": checks}
    ext = Extension(
        "nadefast._core",
        sources=["nadefast/_core.pyx"] + C_SOURCES,
        include_dirs=["csrc"],
        depends=[os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith((".h", ".def"))]
        + [os.path.join("nadefast", f) for f in os.listdir("nadefast") if f.endswith(".pxi")],
    )
    return cythonize([ext], compiler_directives=directives)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
