"""Declaring options once: each setting is a dataclass field that knows its variable.

A settings section is a frozen, keyword-only dataclass whose fields are made by :func:`option`:
the environment variable, the parser, the default *as a user writes it* (``"200ms"``) and the
meaning. The field's typed default is the parsed default, so every default is stated once, and
docs/configuration.md, the Helm values and the compose file are checked against the same
declarations (:func:`options_of`). :func:`load_section` reads one section from the environment
and reports every problem it finds, not just the first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

__all__ = ["Option", "load_section", "option", "options_of"]

_KEY: Final = "tiktok_capi.option"
T = TypeVar("T")


@dataclass(frozen=True)
class Option:
    """One environment variable: how it parses, its default (as written) and its meaning.

    ``section`` and ``attr`` say where it lands (``settings.<section>.<attr>``).
    """

    env: str
    parse: Callable[[str], Any]
    doc: str
    default: str | None = None
    required: bool = False
    secret: bool = False
    section: str = ""
    attr: str = ""


def option(
    env: str,
    parse: Callable[[str], Any],
    doc: str,
    default: str | None = None,
    *,
    required: bool = False,
    secret: bool = False,
) -> Any:
    """A settings field read from ``env`` (use in a ``kw_only`` dataclass)."""
    declared = Option(env, parse, doc, default, required, secret)
    if required:
        return dataclasses.field(metadata={_KEY: declared})
    typed = None if default is None else parse(default)
    return dataclasses.field(default=typed, metadata={_KEY: declared})


def options_of(section: type[Any], name: str) -> tuple[Option, ...]:
    """The options of the dataclass ``section``, placed as ``settings.<name>.<field>``."""
    found = []
    for f in dataclasses.fields(section):
        declared = f.metadata.get(_KEY)
        if isinstance(declared, Option):
            found.append(dataclasses.replace(declared, section=name, attr=f.name))
    return tuple(found)


def load_section(
    section: type[T],
    env: Mapping[str, str],
    problems: list[str],
    extra: Mapping[str, Any] | None = None,
) -> T | None:
    """Read the dataclass ``section`` from ``env``; ``None`` when ``problems`` got a line.

    Args:
        section: a settings dataclass whose fields were made by :func:`option`.
        env: the environment.
        problems: receives one PII- and secret-free line per missing or invalid variable.
        extra: values of fields that are not read from one variable (computed by the caller).
    """
    values: dict[str, Any] = dict(extra or {})
    ok = True
    for declared in options_of(section, ""):
        raw = env.get(declared.env)
        if raw is None or raw.strip() == "":
            if declared.required:
                problems.append(f"{declared.env}: required — {declared.doc}")
                ok = False
            continue
        try:
            values[declared.attr] = declared.parse(raw)
        except ValueError as exc:
            shown = "(secret)" if declared.secret else repr(raw)
            problems.append(f"{declared.env}={shown}: {exc}")
            ok = False
    return section(**values) if ok else None
