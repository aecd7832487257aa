"""`tuned_for_serving` changes the collector's settings only within its block."""

from __future__ import annotations

import gc

import pytest

from tiktok_capi.emulator.gctune import YOUNG_THRESHOLD, tuned_for_serving


def test_settings_apply_inside_and_are_restored_after() -> None:
    before = gc.get_threshold()
    with tuned_for_serving():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settings_are_restored_when_the_block_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), tuned_for_serving():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
