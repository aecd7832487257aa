"""Golden examples: ``tests/golden/<case>.json`` -> the exact TikTok event.

Each file holds a realistic storefront event (``input``), the time it is mapped at (``now``),
optionally ``event_map`` overrides, ``phone_region``, ``integration_names``,
``consent_categories`` and ``consent_required``, and what must come out: ``expected``
(the element of the request's ``data`` array, or null), ``skipped`` (the reason, when null)
and ``notes``. After an intended change, ``UPDATE_GOLDEN=1 pytest tests/mapping/test_golden.py``
rewrites the outputs; review the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.mapping.helpers import golden_settings
from tiktok_capi.mapping import Mapped, map_event

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(GOLDEN.glob("*.json"))


def _outcome(case: dict[str, Any]) -> dict[str, Any]:
    result = map_event(case["input"], golden_settings(case), case["now"])
    if isinstance(result, Mapped):
        # Through JSON, as the sender sends it.
        return {"expected": orjson.loads(orjson.dumps(result.event)), "notes": list(result.notes)}
    return {"expected": None, "skipped": result.reason, "notes": list(result.notes)}


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    outcome = _outcome(case)
    if os.environ.get("UPDATE_GOLDEN"):
        case.pop("skipped", None)
        case.update(outcome)
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert outcome["expected"] == case["expected"]
    assert outcome.get("skipped") == case.get("skipped")
    assert outcome["notes"] == case.get("notes", [])
