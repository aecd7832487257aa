"""The installed layout and the optional mypyc build of the pure hot path, defined in one place.

Installed layout: the top-level folders the project is organised by (``consumer/``,
``mapping/``, ``emulator/``, ``schemas/``) install as sub-packages of one ``tiktok_capi``
namespace (``tiktok_capi.consumer``, ...), so that a user's site-packages gets no generic
top-level names. :func:`package_dirs` is setuptools' ``package_dir`` and :func:`packages` its
package list; :func:`stage` builds the same tree in a directory (copies for compiling, links for
mypy, which cannot follow the editable install's import hook).

Compiled: every module of the pure ``mapping`` package, the Avro fast reader
``consumer/decode/fast.py`` (pure, strictly typed, ~30% of a decode worker's time), the string
field readers that generated readers call, ``consumer/decode/fields.py``, and the poll loop's
per-record bookkeeping (``consumer/loop/{batcher,chunk,intake,outcomes}.py``,
``consumer/offsets/tracker.py``: offsets tracked and resolved, results batched). The rest of
``consumer`` (I/O, threads, configuration) stays Python.

Used by the PEP 517 backend (:mod:`tiktok_capi_backend`, wheels built with
``TIKTOK_CAPI_MYPYC=1``) and by ``python -m tools.compile_mapping`` (a compiled copy in a
directory, for benchmarks and tests). Standard library only until :func:`extensions` runs, so
plain pure-Python builds never need mypy.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "BUILDING",
    "COPIED_PACKAGES",
    "FLAG",
    "MODULES",
    "NAMESPACE",
    "OPT_LEVEL",
    "PACKAGE",
    "ROOT",
    "TOP_PACKAGES",
    "compiler_missing",
    "enabled",
    "extensions",
    "mode",
    "package_dirs",
    "packages",
    "requirements",
    "sources",
    "stage",
]

FLAG = "TIKTOK_CAPI_MYPYC"
# Set by the backend around build_wheel only: metadata and editable builds never compile.
BUILDING = "_TIKTOK_CAPI_MYPYC_BUILDING_WHEEL"
ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "tiktok_capi"
# The project's top-level folders, installed as ``tiktok_capi.<folder>``.
TOP_PACKAGES = ("consumer", "mapping", "emulator", "schemas")
PACKAGE = "mapping"
# Single modules compiled besides the whole of PACKAGE (pure, mypy --strict, no I/O).
MODULES = (
    "consumer/decode/fast.py",
    "consumer/decode/fields.py",
    # The poll loop's per-record bookkeeping: what it saves is in docs/performance.md
    # ("Where the CPU goes").
    "consumer/loop/batcher.py",
    "consumer/loop/chunk.py",
    "consumer/loop/intake.py",
    "consumer/loop/outcomes.py",
    "consumer/offsets/tracker.py",
)
# Packages a compiled copy (tools.compile_mapping) holds: the compiled modules live in them.
COPIED_PACKAGES = (PACKAGE, "consumer")
OPT_LEVEL = "3"
# Third-party modules mapping/ imports: installed into the build environment (runtime pins) so
# mypyc sees the same types as mypy in the dev venv.
_TYPED_IMPORTS = ("orjson", "phonenumbers")
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def mode(environ: Mapping[str, str] = os.environ) -> str:
    """``TIKTOK_CAPI_MYPYC`` as ``on`` (1, true, yes), ``off`` (0, false, no) or ``auto`` (else)."""
    value = environ.get(FLAG, "").strip().lower()
    if value in {"1", "true", "yes"}:
        return "on"
    if value in {"0", "false", "no"}:
        return "off"
    return "auto"


def compiler_missing() -> str | None:
    """Why C extensions cannot be built here (no C compiler or Python headers), else None."""
    import shutil
    import sysconfig

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(os.environ.get("CC", compiler).split()[0]) is None:
        return f"no C compiler ({compiler}) on PATH"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h)"
    return None


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a wheel build compiles: asked for (``on``), or ``auto`` with a compiler here."""
    chosen = mode(environ)
    return chosen == "on" or (chosen == "auto" and compiler_missing() is None)


def package_dirs() -> dict[str, str]:
    """setuptools' ``package_dir``: ``tiktok_capi.consumer`` -> ``consumer`` and so on."""
    return {f"{NAMESPACE}.{top}": top for top in TOP_PACKAGES}


DATA_PACKAGES = ("consumer/demo/data",)
"""Folders of package data only (no ``__init__.py``), installed as packages of their own: Python
imports them as namespace packages, and setuptools warns on every install about one it was not
told of."""


def packages(root: Path = ROOT) -> list[str]:
    """Every installed package (dotted, under :data:`NAMESPACE`): folders with ``__init__.py``,
    and :data:`DATA_PACKAGES`."""
    found = []
    for top in TOP_PACKAGES:
        for init in sorted((root / top).rglob("__init__.py")):
            parts = init.parent.relative_to(root).parts
            if "__pycache__" not in parts:
                found.append(".".join((NAMESPACE, *parts)))
    found += [".".join((NAMESPACE, *Path(folder).parts)) for folder in DATA_PACKAGES]
    return found


def stage(
    dest: Path, *, link: bool, root: Path = ROOT, tops: tuple[str, ...] = TOP_PACKAGES
) -> Path:
    """``dest/tiktok_capi/<top>`` for each top-level folder: symlinks (``link``) or copies.

    Returns ``dest``. Copies leave out caches and compiled files; links always point at the
    working tree, so a staged tree for mypy never goes stale.
    """
    import shutil

    ns = dest / NAMESPACE
    ns.mkdir(parents=True, exist_ok=True)
    for top in tops:
        target = ns / top
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        if link:
            target.symlink_to(root / top, target_is_directory=True)
        else:
            shutil.copytree(
                root / top, target, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.py[co]")
            )
    return dest


def sources(root: Path = ROOT) -> list[str]:
    """The compiled modules (``mapping/*.py`` and :data:`MODULES`), relative to ``root``, sorted."""
    package = [path.relative_to(root).as_posix() for path in (root / PACKAGE).glob("*.py")]
    return sorted([*package, *MODULES])


def requirements(root: Path = ROOT) -> list[str]:
    """What the compile needs: mypy with the dev extra's pin, plus mapping's typed imports."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    mypy = [r for r in project["optional-dependencies"]["dev"] if _name(r) == "mypy"]
    typed = [r for r in project["dependencies"] if _name(r) in _TYPED_IMPORTS]
    return [*mypy, *typed]


def extensions(target_dir: str = "build/mypyc") -> list[Any]:
    """The extension modules, named ``tiktok_capi.mapping.*`` (run from the project root).

    mypyc names modules by path, so the sources are compiled from a copy staged as the
    installed tree (``<target_dir>/src/tiktok_capi/...``, :func:`stage`). Generated C and mypy's
    cache go under ``target_dir``, never into the dev ``.mypy_cache``.
    """
    from mypyc.build import mypycify  # only when compiling

    src = Path(target_dir) / "src"
    stage(src, link=False, root=Path.cwd(), tops=(PACKAGE, "consumer"))
    compiled = [(src / NAMESPACE / path).as_posix() for path in sources(Path.cwd())]
    os.environ["MYPYPATH"] = str(src)
    options = [f"--cache-dir={target_dir}/mypy-cache", "--explicit-package-bases", *compiled]
    # A named shared library (tiktok_capi__mypyc.*.so) rather than a hash at site-packages' top.
    return list(
        mypycify(options, opt_level=OPT_LEVEL, target_dir=target_dir, group_name="tiktok_capi")
    )


def _name(requirement: str) -> str:
    match = _NAME.match(requirement)
    return match.group(0).lower() if match else ""
