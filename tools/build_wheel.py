#!/usr/bin/env python3
"""Build, repair and test a nadefast wheel in one command, the way a user gets it.

    python tools/build_wheel.py                       # wheel of HEAD: build, repair, test
    python tools/build_wheel.py --sdist               # also: sdist contents, install from it, test
    python tools/build_wheel.py --isa auto --isa baseline   # run the suite once per kernel set

Steps (each prints a "==> [n] ..." line; any failure stops with a non-zero exit):
  1. a clean copy of the source: `git clone` of HEAD (or, with --worktree, the tracked and
     untracked-but-not-ignored files of the working tree as they are now);
  2. a tools venv with `build` and `auditwheel` (auditwheel < 6.8 when the system patchelf is
     older than 0.14.5, as Debian 12's 0.14.3 is: auditwheel 6.8 refuses it, see
     pypa/auditwheel#722);
  3. `python -m build --wheel` (isolated, release flags: NADEFAST_NATIVE/DEBUG/SANITIZE/OPENMP
     are removed from the build environment), and a check that no -march=native reached it;
  4. `auditwheel repair` (vendors libgomp), the manylinux tag it gets, and the RPATH/NEEDED check;
  5. the portability check: `objdump -d` of the extension, AVX (VEX/EVEX, ymm, zmm) instructions
     counted per kernel set -- only functions named *_avx2 / *_avx512 may have any;
  6. a fresh venv (python -m venv) with the repaired wheel installed as nadefast[test], an
     import check from outside the source tree (nadefast from the venv, OpenMP on, the forced
     kernel set active), and the test suite run from outside the tree once per --isa, with
     a check that tests/test_likelihood.py::test_instruction_sets_agree ran and passed;
  7. with --sdist: `python -m build --sdist`, its contents (every tracked file of csrc/,
     nadefast/, tests/, README.md, LICENSE..., no generated .c, no build outputs), a second
     fresh venv with nadefast[test] installed from the sdist, the same package files as the
     wheel, and the suite run from the unpacked sdist's own tests/.

Needs: git, a C compiler with OpenMP, patchelf (apt-get install -y patchelf), network access
to PyPI; objdump/readelf (binutils) for steps 4-5.  Everything is written under --workdir
(default: a new folder in $TMPDIR), which is kept so the wheel and logs can be inspected;
--out DIR copies the repaired wheel (and sdist) there.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_FLAG_VARS = ("NADEFAST_NATIVE", "NADEFAST_DEBUG", "NADEFAST_SANITIZE", "NADEFAST_OPENMP")
PATCHELF_MIN_FOR_NEW_AUDITWHEEL = (0, 14, 5)
AGREE_TEST = "test_instruction_sets_agree"


class Failure(Exception):
    """A step failed; the message says which and why."""


_step_no = 0


def step(title):
    global _step_no
    _step_no += 1
    print(f"\n==> [{_step_no}] {title}", flush=True)


def info(msg):
    print(f"    {msg}", flush=True)


def run(cmd, *, cwd=None, env=None, log=None, echo=True, shown=None):
    """Run cmd; its output goes to the terminal (if echo) and to log.  Returns the output."""
    shown = shown or " ".join(str(c) for c in cmd)
    print(f"    $ {shown}" + (f"    (in {cwd})" if cwd else ""), flush=True)
    proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if echo:
            sys.stdout.write("      " + line)
            sys.stdout.flush()
    rc = proc.wait()
    out = "".join(lines)
    if log is not None:
        Path(log).write_text(f"$ {shown}\n{out}")
    if rc != 0:
        if not echo:
            sys.stdout.write("".join("      " + l for l in lines[-40:]))
        raise Failure(f"command failed (exit {rc}): {shown}" + (f"\n    full log: {log}" if log else ""))
    return out


def clean_env(**extra):
    """The environment for builds and test runs: no build-flag or kernel-forcing variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in BUILD_FLAG_VARS + ("NADEFAST_ISA", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def make_venv(path, base_python):
    if path.exists():
        shutil.rmtree(path)
    run([base_python, "-m", "venv", path])
    return path / "bin" / "python"


# --------------------------------------------------------------------------- source copy

def git(*args, cwd=REPO):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def copy_source(dest, worktree):
    head = git("rev-parse", "HEAD").strip()
    dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    if worktree:
        step("Copy of the working tree (tracked + untracked, not ignored)")
        files = [f for f in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if f]
        dest.mkdir(parents=True)
        n = 0
        for f in files:
            src = REPO / f
            if not src.exists() and not src.is_symlink():
                continue  # deleted in the working tree
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f, follow_symlinks=False)
            n += 1
        info(f"{n} files from {REPO} (HEAD {head[:12]}{', with uncommitted changes' if dirty else ''})")
        label = f"{head[:12]} + working tree" if dirty else head[:12]
        return label, {f for f in files if (dest / f).exists()}
    step("Clean clone of HEAD")
    if dirty:
        info("note: the working tree has uncommitted changes; they are NOT in this build "
             "(use --worktree to include them)")
    run(["git", "clone", "--quiet", "--no-checkout", REPO, dest])
    run(["git", "-C", dest, "checkout", "--quiet", "--detach", head])
    info(f"HEAD {head[:12]}: {git('log', '-1', '--format=%s', head).strip()}")
    return head[:12], set(git("ls-files", "-z", cwd=dest).split("\0")) - {""}


# --------------------------------------------------------------------------- tools

def patchelf_version():
    exe = shutil.which("patchelf")
    if exe is None:
        return None, None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return exe, tuple(int(x or 0) for x in m.groups()) if m else (0, 0, 0)


def setup_tools(work, base_python, auditwheel_spec):
    step("Tools venv: build, auditwheel (patchelf from the system)")
    for tool in ("git",):
        if shutil.which(tool) is None:
            raise Failure(f"{tool} not found")
    exe, version = patchelf_version()
    if exe is None:
        raise Failure("patchelf not found: apt-get install -y patchelf (or pip install patchelf)")
    vstr = ".".join(map(str, version))
    if auditwheel_spec is None:
        if version >= PATCHELF_MIN_FOR_NEW_AUDITWHEEL:
            auditwheel_spec = "auditwheel"
        else:
            auditwheel_spec = "auditwheel>=6,<6.8"
            info(f"patchelf {vstr} < 0.14.5: auditwheel 6.8+ refuses it (pypa/auditwheel#722), "
                 f"using {auditwheel_spec!r}; the NEEDED/RPATH check below verifies the repair")
    info(f"patchelf {vstr} at {exe}")
    py = make_venv(work / "tools-venv", base_python)
    run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "build", auditwheel_spec])
    aw = run([py, "-m", "pip", "show", "auditwheel"], echo=False)
    info("auditwheel " + re.search(r"^Version: (.*)$", aw, re.M).group(1))
    return py


# --------------------------------------------------------------------------- wheel

def build_wheel(tools_py, src, work):
    step("Build the wheel: python -m build --wheel (isolated, release flags)")
    dropped = [v for v in BUILD_FLAG_VARS if v in os.environ]
    if dropped:
        info(f"removed from the build environment: {', '.join(dropped)}")
    dist = work / "dist"
    t0 = time.time()
    out = run([tools_py, "-m", "build", "--wheel", "--outdir", dist, src], env=clean_env(),
              log=work / "build-wheel.log", echo=False)
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise Failure(f"expected one wheel in {dist}, found {wheels}")
    info(f"built {wheels[0].name} in {time.time() - t0:.0f} s (log: {work / 'build-wheel.log'})")
    if "-march" in out:
        raise Failure("the build used a -march flag (see build-wheel.log): wheels must not")
    m = re.search(r"nadefast: OpenMP (enabled|disabled)", out)
    info(f"setup.py says: OpenMP {m.group(1) if m else '?'}; no -march flag on any compiler line")
    return wheels[0]


def repair_wheel(tools_py, wheel, work):
    step("Repair: auditwheel repair")
    aw = [tools_py, "-m", "auditwheel"]
    run([*aw, "show", wheel], log=work / "auditwheel-show.log")
    house = work / "wheelhouse"
    run([*aw, "repair", "-w", house, wheel], log=work / "auditwheel-repair.log")
    repaired = sorted(house.glob("*.whl"))
    if len(repaired) != 1:
        raise Failure(f"expected one repaired wheel in {house}, found {repaired}")
    repaired = repaired[0]
    tags = re.findall(r"(manylinux_\d+_\d+_\w+?)(?:\.|\.whl$)", repaired.name)
    if not tags:
        raise Failure(f"the repaired wheel has no manylinux tag: {repaired.name}")
    with zipfile.ZipFile(repaired) as z:
        names = z.namelist()
        bad = [n for n in names if n.endswith((".c", ".o", ".html")) and not n.startswith("nadefast.libs/")]
        if bad:
            raise Failure(f"the wheel holds generated or build files: {bad}")
        vendored = [n for n in names if n.startswith("nadefast.libs/") and not n.endswith("/")]
        ext = [n for n in names if re.match(r"nadefast/_core\..*\.so$", n)]
        if len(ext) != 1:
            raise Failure(f"expected one nadefast/_core*.so in the wheel, found {ext}")
        unpacked = work / "wheel-unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)
        z.extractall(unpacked)
    info(f"tag: {', '.join(tags)}; vendored: {', '.join(Path(v).name for v in vendored) or 'nothing'}")
    so = unpacked / ext[0]
    if shutil.which("readelf"):
        dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", dyn)
        rpath = re.findall(r"\((?:RPATH|RUNPATH)\).*\[(.*)\]", dyn)
        info(f"{ext[0]}: NEEDED {needed}, RPATH {rpath}")
        for lib in vendored:
            if Path(lib).name not in needed:
                raise Failure(f"{so.name} does not name the vendored {Path(lib).name} in NEEDED "
                              f"(a broken patchelf?): {needed}")
        if vendored and not any("$ORIGIN/../nadefast.libs" in r for r in rpath):
            raise Failure(f"{so.name} has no RPATH to nadefast.libs: {rpath}")
    return repaired, tags[0], so, [unpacked / v for v in vendored], names


# --------------------------------------------------------------------------- objdump

ISA_OF_SYMBOL = re.compile(r"_(baseline|avx2|avx512)(?=$|\.)")
FUNC_HEADER = re.compile(r"^[0-9a-f]+ <(.+)>:$")
INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")


def avx_census(path):
    """{group: {functions, insns, avx (VEX/EVEX-encoded), ymm, zmm}} over the .text of path."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    stats, func, group = {}, None, "other"
    for line in out.splitlines():
        m = FUNC_HEADER.match(line)
        if m:
            func = m.group(1)
            g = ISA_OF_SYMBOL.search(func)
            group = g.group(1) if g else "other"
            s = stats.setdefault(group, dict(functions=0, insns=0, avx=0, ymm=0, zmm=0, offenders=set()))
            s["functions"] += 1
            continue
        m = INSN.match(line)
        if not m or func is None:
            continue
        s = stats[group]
        mnemonic, operands = m.groups()
        s["insns"] += 1
        is_avx = mnemonic.startswith("v") or "%ymm" in operands or "%zmm" in operands
        s["avx"] += is_avx
        s["ymm"] += "%ymm" in operands
        s["zmm"] += "%zmm" in operands
        if is_avx:
            s["offenders"].add(func)
    return stats


def portability_check(so, vendored):
    step("Portability: objdump -d, AVX instructions per kernel set")
    if platform.machine() not in ("x86_64", "AMD64"):
        info(f"skipped: {platform.machine()} has no AVX (the baseline kernels are the NEON/base ISA)")
        return None
    if shutil.which("objdump") is None:
        info("skipped: objdump not found (apt-get install -y binutils)")
        return None
    stats = avx_census(so)
    lines = []
    for group in ("baseline", "other", "avx2", "avx512"):
        s = stats.get(group)
        if s is None:
            continue
        line = (f"{group:>8}: {s['functions']:4d} functions, {s['insns']:6d} instructions, "
                f"{s['avx']:5d} AVX-encoded, {s['ymm']:5d} with ymm, {s['zmm']:5d} with zmm")
        lines.append(line)
        info(line)
    info("('other' = Cython module, dispatch.c, OpenMP glue, PLT: everything not named *_<isa>)")
    for group in ("baseline", "other"):
        s = stats.get(group)
        if s and s["avx"]:
            raise Failure(f"{group} code has AVX instructions, in: {sorted(s['offenders'])[:10]}")
    if "baseline" not in stats:
        raise Failure("no *_baseline kernel symbols found (stripped extension?)")
    if stats.get("avx2", {}).get("zmm"):
        raise Failure("the avx2 kernels use zmm registers")
    if "avx2" not in stats or "avx512" not in stats:
        info("note: no avx2/avx512 kernels in this build (NADE_X86_DISPATCH off?): portable but slow")
    for lib in vendored:
        s = avx_census(lib)
        total = {k: sum(g[k] for g in s.values()) for k in ("insns", "avx", "ymm", "zmm")}
        line = (f"vendored {lib.name}: {total['insns']} instructions, {total['avx']} AVX-encoded, "
                f"{total['ymm']} ymm, {total['zmm']} zmm")
        lines.append(line)
        info(line)
    return lines


# --------------------------------------------------------------------------- test runs

# Imports the extension module itself (inside the package only nadefast/backends/_compiled.py
# does): this checks the built nadefast._core of the installed wheel -- that it loads, which
# kernels it dispatches to, that OpenMP is compiled in.
IMPORT_CHECK = r"""
import json, sys, nadefast, nadefast._core as c
print(json.dumps(dict(file=nadefast.__file__, version=nadefast.__version__, isa=c.active_isa(),
    supported=[i for i in ("baseline", "avx2", "avx512") if c.isa_supported(i)],
    openmp=bool(c.openmp_enabled()), threads=c.openmp_max_threads(), python=sys.version.split()[0])))
"""


def import_check(py, venv, run_dir, isa):
    env = clean_env(**({} if isa == "auto" else {"NADEFAST_ISA": isa}))
    prefix = "" if isa == "auto" else f"NADEFAST_ISA={isa} "
    out = run([py, "-c", IMPORT_CHECK], cwd=run_dir, env=env, echo=False,
              shown=f"{prefix}{py} -c 'import nadefast._core ...' (import check)")
    facts = json.loads(out.strip().splitlines()[-1])
    info(f"NADEFAST_ISA={isa}: nadefast {facts['version']} from {facts['file']}; kernels "
         f"{facts['isa']!r} (CPU supports {facts['supported']}); OpenMP {facts['openmp']} "
         f"({facts['threads']} threads); Python {facts['python']}")
    if not Path(facts["file"]).resolve().is_relative_to(venv.resolve()):
        raise Failure(f"nadefast was imported from {facts['file']}, not from the venv {venv}")
    if not facts["openmp"]:
        raise Failure("nadefast._core.openmp_enabled() is False in the installed wheel")
    if isa != "auto" and facts["isa"] != isa:
        raise Failure(f"NADEFAST_ISA={isa} but the active kernels are {facts['isa']!r}")
    return facts


def junit_summary(path):
    root = ET.parse(path).getroot()
    counts = dict(passed=0, failed=0, error=0, skipped=0)
    agree = []
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        status = ("failed" if "failure" in kinds else "error" if "error" in kinds
                  else "skipped" if "skipped" in kinds else "passed")
        counts[status] += 1
        if case.get("name", "").split("[")[0] == AGREE_TEST:
            agree.append(status)
    return counts, agree


def run_tests(py, tests_dir, run_dir, work, label, isa, data_dir, extra_args, supported):
    env = clean_env(**({} if isa == "auto" else {"NADEFAST_ISA": isa}))
    if data_dir:
        env["NADEFAST_DATA"] = str(data_dir)
    junit = work / f"junit-{label}-{isa}.xml"
    log = work / f"pytest-{label}-{isa}.log"
    pytest = Path(py).parent / "pytest"
    t0 = time.time()
    out = ""
    try:
        out = run([pytest, tests_dir, "-p", "no:cacheprovider", f"--junitxml={junit}", *extra_args],
                  cwd=run_dir, env=env, log=log)
    finally:
        if not out and log.exists():
            out = log.read_text()
    summary = [l for l in out.splitlines() if re.match(r"^(=+ )?\d+ \w+.* in [\d.]+s", l)]
    summary = summary[-1].strip("= ") if summary else "?"
    counts, agree = junit_summary(junit)
    if len(supported) >= 2 and agree != ["passed"]:
        raise Failure(f"{AGREE_TEST} did not run and pass once (statuses: {agree}), "
                      f"though this CPU runs {supported}")
    if len(supported) < 2 and agree not in (["passed"], ["skipped"]):
        raise Failure(f"{AGREE_TEST}: statuses {agree}")
    header = re.search(r"^nadefast .* kernels: .*$", out, re.M)
    return dict(label=label, isa=isa, summary=summary, counts=counts, seconds=time.time() - t0,
                header=header.group(0) if header else "?",
                agree=agree[0] + ("" if len(supported) >= 2 else f" (this CPU runs only {supported})"))


def test_venv(base_python, work, name, install_target, tests_dir, isas, data_dir, pytest_args):
    step(f"Fresh venv '{name}': install {Path(install_target.split('[')[0]).name}[test], run the tests outside the tree")
    venv = work / f"venv-{name}"
    py = make_venv(venv, base_python)
    run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", install_target],
        env=clean_env(), log=work / f"pip-{name}.log")
    run_dir = work / f"run-{name}"  # outside the source tree, empty
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    results = []
    for isa in isas:
        facts = import_check(py, venv, run_dir, isa)
        r = run_tests(py, tests_dir, run_dir, work, name, isa, data_dir, pytest_args, facts["supported"])
        info(f"[{name}, NADEFAST_ISA={isa}] {r['summary']}; {AGREE_TEST}: {r['agree']}")
        results.append(r)
    return py, venv, results


def installed_package_files(py, cwd):
    # run away from any source tree: a checkout's nadefast.egg-info (left by an editable
    # install) on sys.path[0] would answer instead of the venv's installed distribution
    out = subprocess.run([py, "-c", "import importlib.metadata as m; print('\\n'.join(str(f) for f in m.files('nadefast')))"],
                         capture_output=True, text=True, check=True, cwd=cwd).stdout
    return {f for f in out.split() if f.startswith("nadefast/") and "__pycache__" not in f}


# --------------------------------------------------------------------------- sdist

def build_and_check_sdist(tools_py, src, work, source_files):
    step("Build the sdist: python -m build --sdist, and check its contents")
    dist = work / "sdist"
    run([tools_py, "-m", "build", "--sdist", "--outdir", dist, src], env=clean_env(),
        log=work / "build-sdist.log", echo=False)
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(sdists) != 1:
        raise Failure(f"expected one sdist in {dist}, found {sdists}")
    sdist = sdists[0]
    with tarfile.open(sdist) as t:
        members = [m.name for m in t.getmembers() if m.isfile()]
        prefix = members[0].split("/")[0] + "/"
        names = {m[len(prefix):] for m in members}
        unpacked = work / "sdist-unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)
        t.extractall(unpacked, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(unpacked)
    tracked = source_files
    required = {f for f in tracked if f.startswith(("csrc/", "nadefast/", "tests/"))}
    required |= {"README.md", "LICENSE", "pyproject.toml", "setup.py", "MANIFEST.in",
                 "tools/make_demo_data.py", "tools/make_image_patches.py"} & tracked
    missing = sorted(required - names)
    generated = sorted(n for n in names if n.startswith("nadefast/") and n.endswith(".c"))
    outputs = sorted(n for n in names if n.startswith(("build/", "dist/")) or "__pycache__" in n
                     or n.endswith((".so", ".pyd", ".o", ".pyc", ".html")))
    info(f"{sdist.name}: {len(names)} files, {sdist.stat().st_size / 1e6:.2f} MB")
    for label, lst in (("missing", missing), ("generated C (Cython output)", generated),
                       ("build outputs", outputs)):
        info(f"{label}: {lst if lst else 'none'}")
    if missing or generated or outputs:
        raise Failure("the sdist is incomplete or holds generated files (see above)")
    extra = sorted(names - tracked - {"PKG-INFO", "setup.cfg"})
    info(f"not from git: {extra}")
    return sdist, unpacked / prefix.rstrip("/")


# --------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sdist", action="store_true", help="also build the sdist, check it, install from it and test")
    p.add_argument("--isa", action="append", choices=["auto", "baseline", "avx2", "avx512"],
                   help="run the test suite with NADEFAST_ISA set to this (repeatable; default: auto)")
    p.add_argument("--worktree", action="store_true",
                   help="build the working tree as it is (tracked + untracked, not ignored) instead of a clone of HEAD")
    p.add_argument("--workdir", type=Path, help="where to build (default: a new folder in $TMPDIR; kept)")
    p.add_argument("--out", type=Path, help="copy the repaired wheel (and the sdist) here")
    p.add_argument("--python", default=sys.executable, help="base interpreter for every venv (default: this one)")
    p.add_argument("--auditwheel", help="pip requirement for auditwheel (default: chosen from the patchelf version)")
    p.add_argument("--data", type=Path, help="NADEFAST_DATA for the tests (default: $NADEFAST_DATA, else ../shared/data beside the repository if present)")
    p.add_argument("--pytest-args", default="", help="extra pytest arguments, one string (e.g. \"-m 'not slow' -x\")")
    args = p.parse_args(argv)
    isas = args.isa or ["auto"]
    import shlex
    pytest_args = shlex.split(args.pytest_args)

    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="nadefast-wheel-"))
    if args.workdir:
        if work.exists() and any(work.iterdir()):
            print(f"error: --workdir {work} exists and is not empty", file=sys.stderr)
            return 2
        work.mkdir(parents=True, exist_ok=True)
    data_dir = args.data or (Path(os.environ["NADEFAST_DATA"]) if os.environ.get("NADEFAST_DATA") else None)
    if data_dir is None and (REPO.parent / "shared" / "data").is_dir():
        data_dir = REPO.parent / "shared" / "data"
    print(f"nadefast wheel build: {REPO} -> {work}\npython {sys.version.split()[0]} ({args.python}), "
          f"{platform.machine()}; tests use NADEFAST_DATA={data_dir or '(none: data tests skip)'}")

    t_start = time.time()
    try:
        src = work / "src"
        commit, source_files = copy_source(src, args.worktree)
        tools_py = setup_tools(work, args.python, args.auditwheel)
        wheel = build_wheel(tools_py, src, work)
        repaired, tag, so, vendored, wheel_names = repair_wheel(tools_py, wheel, work)
        census = portability_check(so, vendored)
        _, _, results = test_venv(args.python, work, "wheel", f"{repaired}[test]", src / "tests",
                                  isas, data_dir, pytest_args)
        sdist_info = None
        if args.sdist:
            sdist, sdist_src = build_and_check_sdist(tools_py, src, work, source_files)
            py, _, sdist_results = test_venv(args.python, work, "sdist", f"{sdist}[test]",
                                             sdist_src / "tests", ["auto"], data_dir, pytest_args)
            results += sdist_results
            step("Same package from the sdist as in the wheel")
            from_sdist = installed_package_files(py, work)
            from_wheel = {n for n in wheel_names if n.startswith("nadefast/") and not n.endswith("/")}
            if from_sdist != from_wheel:
                raise Failure(f"package files differ: only from sdist {sorted(from_sdist - from_wheel)}, "
                              f"only in wheel {sorted(from_wheel - from_sdist)}")
            info(f"identical file lists ({len(from_wheel)} files under nadefast/)")
            sdist_info = sdist
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for f in (repaired, sdist_info):
                if f:
                    shutil.copy2(f, args.out / f.name)
    except Failure as e:
        print(f"\nFAILED at step [{_step_no}]: {e}\n(work folder kept: {work})", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"\nFAILED at step [{_step_no}]: {e}\n(work folder kept: {work})", file=sys.stderr)
        return 1

    print("\n==> Summary")
    print(f"    source:      {commit}")
    print(f"    wheel:       {repaired} ({repaired.stat().st_size / 1e6:.2f} MB)")
    print(f"    tag:         {tag}")
    if sdist_info:
        print(f"    sdist:       {sdist_info} ({sdist_info.stat().st_size / 1e6:.2f} MB)")
    for line in census or []:
        print(f"    objdump:     {line}")
    for r in results:
        c = r["counts"]
        print(f"    tests [{r['label']}, NADEFAST_ISA={r['isa']}]: {r['summary']} "
              f"(junit: {c['passed']} passed, {c['skipped']} skipped or xfailed, {c['failed'] + c['error']} failed; "
              f"{AGREE_TEST} {r['agree']})")
        print(f"        {r['header']}")
    print(f"    total time:  {time.time() - t_start:.0f} s; logs and venvs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
