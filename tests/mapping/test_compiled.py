"""The opt-in mypyc build of the hot path behaves exactly like the pure modules.

Compiled: ``mapping/``, ``consumer/decode/{fast,fields}.py`` (the Avro fast reader, string
fields of generated readers) and the poll loop's bookkeeping (``consumer/loop/{batcher,chunk,
intake,outcomes}.py``, ``consumer/offsets/tracker.py``).

The compiled copy is built once (``tools.compile_mapping`` into ``.build/compiled``, skipped
when its digest matches the sources; ~15 s otherwise). Then the whole ``tests/mapping`` suite and
the codec tests (fast reader vs fastavro, property-based) and the loop and offsets unit tests
run against it in a child process,
and a differential test maps the sample dataset, perturbed events and the golden inputs through
both builds and compares the JSON bytes, skip reasons and notes. Skipped, with the reason,
where no C compiler, Python headers or mypy are available.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.mapping.helpers import NOW, golden_settings
from tiktok_capi import mapping
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.mapping import (
    DEFAULT_EVENT_MAP,
    Mapped,
    MappingSettings,
    map_event,
)
from tools.compile_mapping import ROOT, build, compiler_missing, environ, mypyc_mapping

MISSING = compiler_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"cannot compile mapping: {MISSING}")

THIS = Path(__file__).resolve()
GOLDEN = ROOT / "tests" / "golden"
EXTENSION = tuple(EXTENSION_SUFFIXES)
# The single modules the build compiles besides mapping/, by their import names.
SINGLE_MODULES = frozenset(
    f"{mypyc_mapping.NAMESPACE}.{path.removesuffix('.py').replace('/', '.')}"
    for path in mypyc_mapping.MODULES
)
# Loaded with -p in the child pytest: records where every compiled module came from.
PROBE = """
import json, os, sys

def pytest_sessionfinish(session, exitstatus):
    single = os.environ["COMPILED_PROBE_MODULES"].split(",")
    files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
             if name in ("tiktok_capi.mapping", *single)
             or name.startswith("tiktok_capi.mapping.")}
    with open(os.environ["COMPILED_PROBE_OUT"], "w") as out:
        json.dump(files, out)
"""


@pytest.fixture(scope="module")
def compiled() -> Path:
    return build()


def test_mapping_suite_passes_against_the_compiled_package(compiled: Path, tmp_path: Path) -> None:
    (tmp_path / "compiled_probe.py").write_text(PROBE, encoding="utf-8")
    report = tmp_path / "modules.json"
    env = environ(compiled)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    env["COMPILED_PROBE_OUT"] = str(report)
    env["COMPILED_PROBE_MODULES"] = ",".join(sorted(SINGLE_MODULES))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "compiled_probe",
         # append: pytest must not put the repo (and its pure mapping/) first on sys.path
         "--import-mode=append", "tests/mapping", f"--ignore={THIS}",
         "tests/consumer/decode/test_fast.py", "tests/consumer/decode/test_codec.py",
         "tests/consumer/decode/test_generic.py", "tests/consumer/loop",
         "tests/consumer/offsets/test_tracker.py"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert " passed" in done.stdout
    files = json.loads(report.read_text(encoding="utf-8"))
    expected = {
        "tiktok_capi.mapping",
        "tiktok_capi.mapping.mapper",
        "tiktok_capi.mapping.user",
        "tiktok_capi.mapping.values",
        *SINGLE_MODULES,
    }
    assert expected <= files.keys()
    assert all(str(path).endswith(EXTENSION) for path in files.values()), files


def test_compiled_and_pure_map_every_event_alike(compiled: Path, tmp_path: Path) -> None:
    if mapping.compiled():
        pytest.skip("this process already runs the compiled mapping: nothing pure to compare")
    out = tmp_path / "outcomes.json"
    done = subprocess.run(
        [sys.executable, "-c", f"from {__name__} import dump; dump({str(out)!r})"],
        cwd=ROOT, env=environ(compiled), stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    child = json.loads(out.read_text(encoding="utf-8"))
    assert child["compiled"] is True
    pure = outcomes()
    assert len(child["outcomes"]) == len(pure) > 5000
    differ = [i for i, (a, b) in enumerate(zip(pure, child["outcomes"], strict=True)) if a != b]
    assert not differ, [(pure[i], child["outcomes"][i]) for i in differ[:3]]


def test_one_definition_of_the_build() -> None:

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    system = pyproject["build-system"]
    assert (system["build-backend"], system["backend-path"]) == (
        "tiktok_capi_backend",
        ["build_backend"],
    )
    assert not any("mypy" in r for r in system["requires"])  # plain builds never fetch mypy
    # An sdist carries the backend, or no wheel can be built from it.
    assert "graft build_backend" in (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    assert [r for r in mypyc_mapping.requirements() if r.startswith("mypy")] == [
        r for r in dev if r.startswith("mypy==")
    ]
    assert mypyc_mapping.sources() == sorted(
        [
            *(f"mapping/{p.name}" for p in (ROOT / "mapping").glob("*.py")),
            *(f"consumer/decode/{name}.py" for name in ("fast", "fields")),
            *(f"consumer/loop/{name}.py" for name in ("batcher", "chunk", "intake", "outcomes")),
            "consumer/offsets/tracker.py",
        ]
    )
    # Compiled wherever it can be (auto), insisted on (1) or refused (0).
    assert [
        mypyc_mapping.mode({"TIKTOK_CAPI_MYPYC": v}) for v in ("1", "true", "0", "", "auto")
    ] == [
        "on",
        "on",
        "off",
        "auto",
        "auto",
    ]
    assert mypyc_mapping.enabled({"TIKTOK_CAPI_MYPYC": "1"}) is True
    assert mypyc_mapping.enabled({"TIKTOK_CAPI_MYPYC": "0"}) is False
    can_compile = mypyc_mapping.compiler_missing() is None
    assert mypyc_mapping.enabled({}) is can_compile


def dump(path: str) -> None:
    """Child side of the differential test: the compiled package's outcomes, as JSON."""
    files = [
        m.__file__ or ""
        for n, m in list(sys.modules.items())
        if n.startswith("tiktok_capi.mapping.")
    ]
    assert files and all(f.endswith(EXTENSION) for f in files), files
    result = {"compiled": mapping.compiled(), "outcomes": outcomes()}
    Path(path).write_text(json.dumps(result), encoding="utf-8")


def outcomes() -> list[str]:
    """One line per input: the JSON bytes sent (or the skip reason), and the notes."""
    lines = []
    for event, settings, now in _inputs():
        try:
            result = map_event(event, settings, now)
        except Exception as error:  # the pure build never raises; show what compiled did
            lines.append(f"raised {type(error).__name__}: {error}")
            continue
        if isinstance(result, Mapped):
            try:
                head = orjson.dumps(result.event).decode()
            except TypeError as error:  # e.g. a quantity of 1e300 (an int beyond 64 bits)
                head = f"unserialisable {error}"
        else:
            head = f"skipped {result.reason}"
        lines.append(f"{head} notes={list(result.notes)}")
    return lines


def _inputs() -> Iterator[tuple[Any, MappingSettings, float]]:
    settings = MappingSettings(event_map=DEFAULT_EVENT_MAP, default_phone_region="US")
    for event in generate(4000, seed=20251125):
        yield event, settings, NOW
    rng = random.Random(4)
    # With consent checked too, so that the compiled switches are compared on messy values.
    consent = MappingSettings(consent_categories=("Advertising",))
    for event in generate(1500, seed=4, switches=True):
        yield _perturb(event, rng), consent, NOW
    for path in sorted(GOLDEN.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        yield case["input"], golden_settings(case), case["now"]


def _perturb(value: Any, rng: random.Random) -> Any:
    """Loosely-typed variants of a value: where compiled code could coerce differently."""
    if isinstance(value, dict):
        return {key: _perturb(item, rng) for key, item in value.items()}
    if isinstance(value, list):
        return [_perturb(item, rng) for item in value]
    if rng.random() < 0.7:
        return value
    if isinstance(value, bool) or value is None:
        return rng.choice([1, 0, "true", None, False])
    if isinstance(value, int | float):
        return rng.choice(
            [float(value), int(value), str(value), f" {value} ", True, None, -value, 2**60, 1e300]
        )
    return rng.choice(["", "  ", str(value).upper(), 42, 19.5, f"{value}\ud800", [value], {}])


def test_package_data_lives_in_declared_packages() -> None:
    """A data folder that is not a declared package makes setuptools warn on every install
    ("Package 'tiktok_capi.consumer.demo.data' is absent from the packages configuration")."""

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = pyproject["tool"]["setuptools"]["package-data"]
    packages = mypyc_mapping.packages()
    for package, patterns in data.items():
        assert package in packages, package
        assert not any("/" in pattern for pattern in patterns), (package, patterns)
        folder = ROOT.joinpath(*package.split(".")[1:])
        assert any(f for pattern in patterns for f in folder.glob(pattern) if f.is_file())
