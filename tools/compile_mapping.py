"""Build a mypyc-compiled copy of the pure hot path into a directory.

The copy holds the ``tiktok_capi.mapping`` and ``tiktok_capi.consumer`` packages whole, with
``mapping/*.py`` and ``consumer/decode/{fast,fields}.py`` compiled (the list is
build_backend/mypyc_mapping.py's), so that a process importing from it runs exactly what a
compiled wheel installs (``<out>/tiktok_capi/mapping/...``).

For benchmarks and tests, without touching the dev venv::

    python -m tools.compile_mapping --out .build/compiled
    PYTHONSAFEPATH=1 PYTHONPATH=.build/compiled:. python -m bench.mapping

The module list and compiler options are the wheel build's (build_backend/mypyc_mapping.py).
The build is skipped when ``<out>/.digest`` matches the copied packages' files, the interpreter
and mypy (any edit under mapping/ or consumer/ rebuilds it, ~20 s).
``PYTHONSAFEPATH=1`` keeps ``python -m`` from putting the working directory ahead of the
compiled copy; :func:`environ` returns both variables for a child process. The copy's
``tiktok_capi`` namespace portion comes first on the path, so its packages win over the editable
install's (which maps the names to the working tree). Worker processes spawned by the connector
inherit the path.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build_backend"))
import mypyc_mapping  # noqa: E402

__all__ = ["DEFAULT_OUT", "ROOT", "build", "compiler_missing", "environ", "main"]

DEFAULT_OUT = ROOT / ".build" / "compiled"
_DIGEST = ".digest"
# Runs in a child interpreter (cwd = ROOT): mypy/setuptools state never leaks into the caller.
_COMPILE = """
import sys
sys.path.insert(0, "build_backend")
import mypyc_mapping
from setuptools import Distribution
from setuptools.command.build_ext import build_ext
lib, temp, c_dir = sys.argv[1:4]
dist = Distribution({"name": "mapping", "ext_modules": mypyc_mapping.extensions(c_dir)})
command = build_ext(dist)
command.build_lib, command.build_temp = lib, temp
command.ensure_finalized()
command.run()
"""


def compiler_missing() -> str | None:
    """Why a compile cannot run here (no C compiler, Python headers or mypy), else None."""
    missing = mypyc_mapping.compiler_missing()
    if missing is not None:
        return missing
    try:
        importlib.metadata.version("mypy")
    except importlib.metadata.PackageNotFoundError:
        return "mypy is not installed (dev extra)"
    return None


def build(out: Path = DEFAULT_OUT, *, force: bool = False) -> Path:
    """Compile ``mapping`` into ``out`` (``out/mapping/...``) unless already current; returns out.

    Raises RuntimeError (with mypyc's output) when the compile fails.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = _digest()
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per directory
        if not force and _current(out) == digest:
            return out
        with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as tmp:
            work = Path(tmp)
            _compile(work)
            _copy_sources(work / "lib")
            (work / "lib" / _DIGEST).write_text(digest + "\n", encoding="utf-8")
            shutil.rmtree(out, ignore_errors=True)
            (work / "lib").rename(out)
    return out


def environ(out: Path = DEFAULT_OUT, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``base`` plus what makes a child Python import the compiled copy in ``out``."""
    env = dict(base)
    path = [str(Path(out).resolve()), str(ROOT)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONSAFEPATH"] = "1"
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.compile_mapping",
        description="Compile the pure mapping package with mypyc into a directory "
        "(skipped when up to date). Use it with PYTHONSAFEPATH=1 PYTHONPATH=<out>:.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: .build/compiled")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    missing = compiler_missing()
    if missing:
        sys.stderr.write(f"compile_mapping: cannot compile: {missing}\n")
        return 2
    try:
        out = build(args.out, force=args.force)
    except RuntimeError as error:
        sys.stderr.write(f"compile_mapping: {error}\n")
        return 1
    sys.stdout.write(f"{out}\n")
    return 0


def _digest() -> str:
    h = hashlib.sha256()
    for part in (
        sys.version,
        sysconfig.get_config_var("EXT_SUFFIX") or "",
        importlib.metadata.version("mypy"),
        mypyc_mapping.OPT_LEVEL,
        (ROOT / "build_backend" / "mypyc_mapping.py").read_text(encoding="utf-8"),
    ):
        h.update(part.encode() + b"\0")
    for path in _package_files():  # the copy holds all of them: any change rebuilds it
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _package_files() -> list[Path]:
    """Every file of the packages the compiled copy holds (sources and package data)."""
    files = []
    for package in mypyc_mapping.COPIED_PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                files.append(path)
    return sorted(files)


def _current(out: Path) -> str | None:
    try:
        return (out / _DIGEST).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _compile(work: Path) -> None:
    dirs = [str(work / name) for name in ("lib", "temp", "c")]
    done = subprocess.run(
        [sys.executable, "-c", _COMPILE, *dirs],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _copy_sources(lib: Path) -> None:
    """The packages' sources and data next to the extension modules, as in the wheel."""
    for path in _package_files():
        target = lib / mypyc_mapping.NAMESPACE / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


if __name__ == "__main__":
    raise SystemExit(main())
