"""setuptools entry point: the metadata lives in pyproject.toml; this adds the installed layout
(every top-level folder as a sub-package of ``tiktok_capi``) and the optional mypyc extension
modules of the hot path, ``mapping/`` and ``consumer/decode/{fast,fields}.py``
(``TIKTOK_CAPI_MYPYC=1``, wheel builds through the in-tree backend). Both are defined in
build_backend/mypyc_mapping.py."""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_backend"))

import mypyc_mapping

compile_mapping = mypyc_mapping.enabled() and os.environ.get(mypyc_mapping.BUILDING) == "1"
setup(
    package_dir=mypyc_mapping.package_dirs(),
    packages=mypyc_mapping.packages(),
    ext_modules=mypyc_mapping.extensions() if compile_mapping else [],
)
