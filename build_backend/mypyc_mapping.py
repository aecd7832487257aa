"""The optional mypyc build of the pure hot path, defined in one place.

Compiled: every module of the pure ``mapping`` package and the Avro fast reader
``consumer/codec_fast.py`` (pure, strictly typed, ~30% of a decode worker's time). The rest of
``consumer`` stays Python.

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
    "OPT_LEVEL",
    "PACKAGE",
    "ROOT",
    "enabled",
    "extensions",
    "requirements",
    "sources",
]

FLAG = "TIKTOK_CAPI_MYPYC"
# Set by the backend around build_wheel only: metadata and editable builds never compile.
BUILDING = "_TIKTOK_CAPI_MYPYC_BUILDING_WHEEL"
ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "mapping"
# Single modules compiled besides the whole of PACKAGE (pure, mypy --strict, no I/O).
MODULES = ("consumer/codec_fast.py",)
# Packages a compiled copy (tools.compile_mapping) holds: the compiled modules live in them.
COPIED_PACKAGES = (PACKAGE, "consumer")
OPT_LEVEL = "3"
# Third-party modules mapping/ imports: installed into the build environment (runtime pins) so
# mypyc sees the same types as mypy in the dev venv.
_TYPED_IMPORTS = ("orjson", "phonenumbers")
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``TIKTOK_CAPI_MYPYC`` asks for the compiled build (``1``, ``true`` or ``yes``)."""
    return environ.get(FLAG, "").strip().lower() in {"1", "true", "yes"}


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
    """The extension modules (run from the project root: mypyc names modules by path).

    Generated C and mypy's cache go under ``target_dir``, never into the dev ``.mypy_cache``.
    """
    from mypyc.build import mypycify  # only when compiling

    options = [f"--cache-dir={target_dir}/mypy-cache", *sources(Path.cwd())]
    # A named shared library (tiktok_capi__mypyc.*.so) rather than a hash at site-packages' top.
    return list(
        mypycify(options, opt_level=OPT_LEVEL, target_dir=target_dir, group_name="tiktok_capi")
    )


def _name(requirement: str) -> str:
    match = _NAME.match(requirement)
    return match.group(0).lower() if match else ""
