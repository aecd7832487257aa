"""PEP 517 backend: setuptools, plus an opt-in mypyc build of the hot path for wheels.

``TIKTOK_CAPI_MYPYC=1 pip wheel .`` (or ``pip install .``) adds mypy to the build
requirements and compiles ``mapping/*.py`` and ``consumer/decode/fast.py`` into the wheel
(the list: :func:`mypyc_mapping.sources`). Without the flag this is exactly
``setuptools.build_meta``. Editable installs ignore the flag: compiled modules next to the
sources would shadow every later edit of a ``.py`` file.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import mypyc_mapping
from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook not overridden below)

_Settings = dict[str, Any] | None


def get_requires_for_build_wheel(config_settings: _Settings = None) -> list[str]:
    requires = list(_setuptools.get_requires_for_build_wheel(config_settings))
    if mypyc_mapping.enabled():
        requires += mypyc_mapping.requirements()
    return requires


def build_wheel(
    wheel_directory: str, config_settings: _Settings = None, metadata_directory: str | None = None
) -> str:
    if not mypyc_mapping.enabled():
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    os.environ[mypyc_mapping.BUILDING] = "1"
    try:
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        del os.environ[mypyc_mapping.BUILDING]


def build_editable(
    wheel_directory: str, config_settings: _Settings = None, metadata_directory: str | None = None
) -> str:
    if mypyc_mapping.enabled():
        sys.stderr.write(
            f"{mypyc_mapping.FLAG} is ignored for editable installs (compiled modules would"
            " shadow edited sources): build a wheel, or use python -m tools.compile_mapping\n"
        )
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
