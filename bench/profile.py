"""Where the connector's CPU goes: a summary of py-spy's collapsed stacks, our code first.

    python -m bench.profile STACKS.txt [--top 20]

``py-spy record --format raw --subprocesses`` (what ``python -m bench --profile FILE`` runs on
one end-to-end drain) writes one line per distinct stack: ``frame;frame;...;frame COUNT``,
outermost first, each frame ``function (file:line)``. Idle threads are not sampled, so samples
are proportional to CPU. For each function of the project (files under ``consumer/``,
``mapping/``, ``emulator/``), three shares of all samples:

- ``own``: the function is the innermost frame of ours on the stack — its own code plus the
  library calls it makes directly (fastavro, orjson, httpx...): what changing it can save;
- ``self``: it is the innermost frame of all (its own bytecode only);
- ``total``: it is anywhere on the stack (inclusive).

Functions compiled with mypyc have no Python frame: their time shows in their caller, unless
the profile was taken with ``--native`` (``python -m bench.e2e --profile-native``), where they
are listed as ``function (module, compiled)``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["summarise"]

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]*?)(?::(?P<line>\d+))?\)$")
_OURS = re.compile(r"(?:^|/)(consumer|mapping|emulator)/[^/]+(?:/[^/]+)*\.py$")
# A mypyc-compiled function in a --native profile: CPyDef_<module>___<function> (CPyPy_ wraps it).
_COMPILED = re.compile(r"^CPy(?:Def|Py)_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*?)___(\w+)$")


def _parse(frame: str) -> tuple[str, str] | None:
    """(function, file) of one frame, None for py-spy's process and thread pseudo-frames."""
    if frame.startswith(("process ", "thread ")):
        return None
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["function"], match["file"]


def _our_name(function: str, file: str) -> str | None:
    """How a frame of ours is listed (``map_event (mapping/mapper.py)``), None for others."""
    package_path = _ours(file)
    if package_path:
        return f"{function} ({package_path})"
    compiled = _COMPILED.match(function)
    if compiled:
        return f"{compiled[2].replace('___', '.')} ({compiled[1]}, compiled)"
    return None


def _ours(path: str) -> str | None:
    """The path from the package down (``consumer/loop/pipeline.py``) when the file is ours."""
    if "site-packages" in path:
        return None
    match = _OURS.search(path)
    return path[match.start(1) :] if match else None


def summarise(path: Path, top: int = 20) -> dict[str, Any]:
    """The shares described in the module docstring, ``top`` functions per list."""
    own: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    by_process: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        # Children are nested under their parent: the innermost "process" frame is the sampled one.
        process = next((f for f in reversed(frames) if f.startswith("process ")), "process ?")
        by_process[_process_label(process)] += count
        parsed = [p for p in map(_parse, frames) if p is not None]
        names = [_our_name(function, file) for function, file in parsed]
        if parsed:
            function, file = parsed[-1]
            leaves[f"{function} ({_short(file)})"] += count
            if names[-1] is not None:
                self_[names[-1]] += count
        ours = [n for n in names if n is not None]
        if ours:
            own[ours[-1]] += count
            for name in set(ours):
                total[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "share": round(n / samples, 4)}
            for name, n in counter.most_common(top)
        ]

    return {
        "samples": samples,
        "by_process": {k: round(v / samples, 4) for k, v in by_process.most_common()}
        if samples
        else {},
        "ours_own": share(own),
        "ours_self": share(self_),
        "ours_total": share(total),
        "leaves_all": share(leaves),
        "ours_share": round(sum(own.values()) / samples, 4) if samples else 0.0,
    }


def _process_label(frame: str) -> str:
    if "resource_tracker" in frame:
        return "resource tracker"
    if "spawn_main" in frame:
        return "decode workers"
    if "consumer" in frame or "tiktok-capi" in frame:
        return "connector"
    return frame[:60]


def _short(path: str) -> str:
    """A library file from its package down; the standard library from its module down."""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest if marker == "site-packages/" else rest.split("/", 1)[-1]
    return _ours(path) or path


def render(summary: dict[str, Any]) -> str:
    """The summary as text (the report's hot-spot list)."""
    lines = [f"{summary['samples']} samples; by process: {summary['by_process']}"]
    lines.append(
        f"in our code (own, incl. the library calls it makes): {summary['ours_share']:.1%}"
    )
    for title, key in (
        ("ours, own (code + direct library calls)", "ours_own"),
        ("ours, inclusive", "ours_total"),
        ("innermost frames, all code", "leaves_all"),
    ):
        lines.append(f"-- {title}")
        lines.extend(f"  {row['share']:6.1%}  {row['function']}" for row in summary[key])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(render(summarise(args.stacks, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
