"""setuptools entry point: the metadata lives in pyproject.toml; this adds only the optional
mypyc extension modules of the hot path, ``mapping/`` and ``consumer/codec_fast.py``
(``TIKTOK_CAPI_MYPYC=1``, wheel builds through the in-tree backend; see
build_backend/mypyc_mapping.py)."""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_backend"))

import mypyc_mapping

compile_mapping = mypyc_mapping.enabled() and os.environ.get(mypyc_mapping.BUILDING) == "1"
setup(ext_modules=mypyc_mapping.extensions() if compile_mapping else [])
