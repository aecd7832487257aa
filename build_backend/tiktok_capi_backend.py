"""PEP 517 backend: setuptools, plus the mypyc build of the hot path for wheels.

A wheel (``pip install .``, ``pip wheel .``) compiles ``mapping/*.py`` and
``consumer/decode/{fast,fields}.py`` (the list: :func:`mypyc_mapping.sources`) whenever a C
compiler and the Python headers are present, adding mypy to the build requirements; without
them, or when the compile fails, it builds pure Python and says so in one line on stderr.
``TIKTOK_CAPI_MYPYC=1`` insists (a failure fails the build: the Docker image uses it),
``TIKTOK_CAPI_MYPYC=0`` never compiles. Editable installs never compile: compiled modules next
to the sources would shadow every later edit of a ``.py`` file.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import mypyc_mapping
from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook not overridden below)

_Settings = dict[str, Any] | None


def _notice(text: str) -> None:
    sys.stderr.write(f"tiktok-capi: {text}\n")


def get_requires_for_build_wheel(config_settings: _Settings = None) -> list[str]:
    requires = list(_setuptools.get_requires_for_build_wheel(config_settings))
    if mypyc_mapping.enabled():
        requires += mypyc_mapping.requirements()
    return requires


def build_wheel(
    wheel_directory: str, config_settings: _Settings = None, metadata_directory: str | None = None
) -> str:
    if not mypyc_mapping.enabled():
        if mypyc_mapping.mode() == "auto":
            _notice(
                f"building pure Python ({mypyc_mapping.compiler_missing()}); the compiled hot"
                " path needs a C compiler and the Python headers"
            )
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    os.environ[mypyc_mapping.BUILDING] = "1"
    try:
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    except Exception as exc:
        if mypyc_mapping.mode() == "on":
            raise
        _notice(f"compiling the hot path failed ({type(exc).__name__}); building pure Python")
    finally:
        del os.environ[mypyc_mapping.BUILDING]
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str, config_settings: _Settings = None, metadata_directory: str | None = None
) -> str:
    if mypyc_mapping.mode() == "on":
        _notice(
            f"{mypyc_mapping.FLAG} is ignored for editable installs (compiled modules would"
            " shadow edited sources): build a wheel, or use python -m tools.compile_mapping"
        )
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
