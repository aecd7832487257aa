"""Run mypy --strict on the installed layout (``tiktok_capi.mapping``, ``tiktok_capi.consumer``).

mypy cannot follow the editable install's import hook that maps ``tiktok_capi.consumer`` to
``consumer/``, so this stages a tree of links shaped like the installed packages
(``.build/typecheck/tiktok_capi/consumer -> consumer/``, ...; pyproject's ``mypy_path``) and runs
mypy on it. Reported paths are written back as the working tree's (``consumer/app.py:12``).

    python -m tools.typecheck [mypy arguments]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build_backend"))
import mypyc_mapping  # noqa: E402

STAGED = ROOT / ".build" / "typecheck"


def main(argv: list[str]) -> int:
    mypyc_mapping.stage(STAGED, link=True)
    prefix = f"{STAGED.relative_to(ROOT).as_posix()}/{mypyc_mapping.NAMESPACE}/"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    sys.stdout.write(done.stdout.replace(prefix, ""))
    sys.stderr.write(done.stderr.replace(prefix, ""))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
