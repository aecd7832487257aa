"""Which dead-letter records an operator means: by reason, TikTok code, origin and time (pure).

``tiktok-capi dlq inspect`` and ``dlq replay`` take the same selection options; a record matches
when it satisfies every option given (and any of the values of a repeated one)::

    --reason invalid_event --reason retries_exhausted   # tiktok-capi.dead-letter-reason
    --code 40002                                         # tiktok-capi.tiktok-code
    --partition 3 --offsets 1000-2000                    # original partition / offset range
    --since 2h --until 2026-11-25T09:00:00Z              # when it was dead-lettered

Times are a duration ago (``30m``, ``2h``, ``7d``) or an ISO-8601 time (UTC unless it says
otherwise), compared with the record's ``tiktok-capi.failed-at`` header, else its timestamp. The
selection *as written* (:attr:`Selection.spec`) names the replay's progress, so running the same
command again resumes it, whatever the clock says now.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from tiktok_capi.consumer.failures.tiers import (
    HEADER_FAILED_AT,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_REASON,
    HEADER_TIKTOK_CODE,
)

__all__ = ["Selection", "parse_offsets", "parse_when"]

_AGO: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_when(text: str, now: float) -> float:
    """Epoch seconds of ``2h`` (ago, from ``now``) or of an ISO-8601 time.

    Raises:
        ValueError: neither form.
    """
    match = _AGO.match(text)
    if match is not None:
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use a duration ago such as 30m, 2h, 7d, or an ISO-8601 "
            "time such as 2026-11-25T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_offsets(text: str) -> tuple[int, int | None]:
    """``FROM-TO``, ``FROM-`` or ``-TO`` (inclusive, original offsets) as ``(from, to)``.

    Raises:
        ValueError: not a range of whole numbers, or FROM above TO.
    """
    low, sep, high = text.strip().partition("-")
    if not sep or not (low.strip() or high.strip()):
        raise ValueError(f"not an offset range: {text!r} (use FROM-TO, FROM- or -TO)")
    try:
        start = int(low) if low.strip() else 0
        end = int(high) if high.strip() else None
    except ValueError:
        raise ValueError(f"not an offset range: {text!r} (use FROM-TO, FROM- or -TO)") from None
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"not an offset range: {text!r} (FROM must be 0..TO)")
    return start, end


def _epoch_of(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None or not text.strip().lstrip("-").isdigit():
        return None
    return int(text)


@dataclass(frozen=True)
class Selection:
    """What to select; every field empty or ``None`` selects everything.

    Attributes:
        reasons: dead-letter reasons (any of).
        codes: TikTok codes (any of).
        partitions: original partitions (any of).
        offsets: inclusive range of original offsets (``None`` as the end: no end).
        since: epoch seconds; records dead-lettered before are left out.
        until: epoch seconds; records dead-lettered after are left out.
        spec: the options as written (names the replay's progress).
    """

    reasons: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    partitions: frozenset[int] = frozenset()
    offsets: tuple[int, int | None] | None = None
    since: float | None = None
    until: float | None = None
    spec: str = field(default="", compare=False)

    @classmethod
    def parse(
        cls,
        *,
        reasons: Iterable[str] = (),
        codes: Iterable[str] = (),
        partitions: Iterable[int] = (),
        offsets: str | None = None,
        since: str | None = None,
        until: str | None = None,
        now: float,
    ) -> Selection:
        """A selection from command-line values.

        Raises:
            ValueError: a time or range that does not parse, or an empty time window.
        """
        chosen_reasons = frozenset(r.strip() for r in reasons if r.strip())
        chosen_codes = frozenset(c.strip() for c in codes if c.strip())
        chosen_partitions = frozenset(partitions)
        start = parse_when(since, now) if since else None
        end = parse_when(until, now) if until else None
        if start is not None and end is not None and end < start:
            raise ValueError("--until is before --since: nothing can match")
        written = [
            ("reason", ",".join(sorted(chosen_reasons))),
            ("code", ",".join(sorted(chosen_codes))),
            ("partition", ",".join(str(p) for p in sorted(chosen_partitions))),
            ("offsets", (offsets or "").strip()),
            ("since", (since or "").strip()),
            ("until", (until or "").strip()),
        ]
        return cls(
            reasons=chosen_reasons,
            codes=chosen_codes,
            partitions=chosen_partitions,
            offsets=parse_offsets(offsets) if offsets else None,
            since=start,
            until=end,
            spec=" ".join(f"{name}={value}" for name, value in written if value),
        )

    @property
    def everything(self) -> bool:
        """True when nothing is filtered out."""
        return not self.spec

    def digest(self) -> str:
        """Eight hex digits naming this selection as written (for the progress group)."""
        return hashlib.sha256(self.spec.encode()).hexdigest()[:8]

    def matches(self, headers: Mapping[str, str], timestamp_ms: int | None = None) -> bool:
        """Whether a dead-letter record with these ``tiktok-capi.*`` headers is selected."""
        if self.reasons and headers.get(HEADER_REASON) not in self.reasons:
            return False
        if self.codes and headers.get(HEADER_TIKTOK_CODE) not in self.codes:
            return False
        if self.partitions or self.offsets is not None:
            partition = _int(headers.get(HEADER_ORIGINAL_PARTITION))
            if self.partitions and partition not in self.partitions:
                return False
            if self.offsets is not None:
                offset = _int(headers.get(HEADER_ORIGINAL_OFFSET))
                start, end = self.offsets
                if offset is None or offset < start or (end is not None and offset > end):
                    return False
        if self.since is not None or self.until is not None:
            when = _epoch_of(headers.get(HEADER_FAILED_AT))
            if when is None and timestamp_ms is not None and timestamp_ms > 0:
                when = timestamp_ms / 1000
            if when is None:
                return False
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when > self.until:
                return False
        return True
