"""The source's own switches: every combination of ``integrations`` and consent, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.helpers import NOW, track
from tiktok_capi.mapping import (
    DEFAULT_INTEGRATION_NAMES,
    Mapped,
    MappingSettings,
    Skipped,
    map_event,
)

SENT = None  # expected outcome: the event is sent


def with_integrations(integrations: Any) -> dict[str, Any]:
    return track("Order Completed", {"value": 10}, integrations=integrations)


def outcome(event: dict[str, Any], settings: MappingSettings) -> tuple[str, str] | None:
    """``None`` when sent, else ``(reason, detail)``."""
    result = map_event(event, settings, NOW)
    if isinstance(result, Mapped):
        return None
    assert isinstance(result, Skipped)
    return result.reason, result.detail


STRING_CONVERTED = "expected a boolean, got a string; converted"
STRING_IGNORED = "expected a boolean, got a string; ignored"
PREFERENCES = "context.consent.categoryPreferences: "
OFF = ("disabled_by_integrations", "this destination: false")
ALL_OFF = ("disabled_by_integrations", "All: false")

# (id, integrations value, expected outcome with the default destination names)
INTEGRATIONS: list[tuple[str, Any, tuple[str, str] | None]] = [
    ("absent", ..., SENT),
    ("null", None, SENT),
    ("empty", {}, SENT),
    ("All true", {"All": True}, SENT),
    ("All false", {"All": False}, ALL_OFF),
    ("All false, named true", {"All": False, "TikTok Conversions API": True}, SENT),
    ("named false", {"TikTok Conversions API": False}, OFF),
    ("All true, named false", {"All": True, "TikTok Conversions": False}, OFF),
    ("All false, another true", {"All": False, "Mixpanel": True}, ALL_OFF),
    ("All true, another false", {"All": True, "Mixpanel": False}, SENT),
    ("another false only", {"Mixpanel": False}, SENT),
    ("the pixel is another destination", {"All": True, "TikTok Pixel": False}, SENT),
    (
        "offline conversions are another",
        {"All": False, "TikTok Offline Conversions": True},
        ALL_OFF,
    ),
    # every default name, in other cases
    ("Segment's spelling", {"Tiktok Conversions": False}, OFF),
    ("lower case", {"tiktok conversions api": False}, OFF),
    ("RudderStack display name", {"All": False, "TikTok Ads": True}, SENT),
    ("RudderStack key", {"TIKTOK_ADS": False}, OFF),
    ("RudderStack key, other case", {"All": False, "tiktok_ads": True}, SENT),
    ("surrounding spaces", {" TikTok Ads ": False}, OFF),
    ("ALL upper case", {"ALL": False}, ALL_OFF),
    ("all lower case", {"all": False, "TikTok Ads": True}, SENT),
    # an object is per-destination options: enabled
    ("options object", {"All": False, "TikTok Conversions": {"pixel": "C1"}}, SENT),
    ("empty options object", {"All": False, "TikTok Ads": {}}, SENT),
    ("options object, All true", {"All": True, "TikTok Ads": {"x": 1}}, SENT),
    # booleans written as text or numbers (noted)
    ("named 'false'", {"TikTok Ads": "false"}, OFF),
    ("named 0", {"TikTok Ads": 0}, OFF),
    ("All 'false'", {"All": "false"}, ALL_OFF),
    ("All false, named 'true'", {"All": False, "TikTok Ads": "true"}, SENT),
    ("All false, named 1", {"All": False, "TikTok Ads": 1}, SENT),
    # values that are no answer are ignored (noted): the other keys decide
    ("named null", {"TikTok Ads": None}, SENT),
    ("All false, named null", {"All": False, "TikTok Ads": None}, ALL_OFF),
    ("named nonsense", {"TikTok Ads": "maybe"}, SENT),
    ("All an array", {"All": [False]}, SENT),
    ("All nonsense, named false", {"All": "no", "TikTok Ads": False}, OFF),
    # several names for this destination: one false is enough
    ("names disagree", {"All": False, "TikTok Ads": True, "TikTok Conversions": False}, OFF),
    ("names disagree, other order", {"TikTok Conversions": False, "TikTok Ads": True}, OFF),
    # not an object: ignored (noted)
    ("a string", "TikTok Conversions", SENT),
    ("an array", ["All", False], SENT),
    ("a boolean", False, SENT),
]


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [row[1:] for row in INTEGRATIONS],
    ids=[row[0] for row in INTEGRATIONS],
)
def test_integrations(integrations: Any, expected: tuple[str, str] | None) -> None:
    event = with_integrations(integrations)
    if integrations is ...:
        del event["integrations"]
    assert outcome(event, MappingSettings()) == expected


@pytest.mark.parametrize(
    ("integrations", "note"),
    [
        ({"TikTok Ads": "false"}, "integrations (this destination): " + STRING_CONVERTED),
        ({"All": "maybe"}, "integrations.All: " + STRING_IGNORED),
        ({"All": False, "TikTok Ads": None}, None),  # null is absent, silently
        ("TikTok", "integrations: expected an object, got a string; ignored"),
    ],
)  # fmt: skip
def test_integrations_values_that_are_not_booleans_are_noted(
    integrations: Any, note: str | None
) -> None:
    result = map_event(with_integrations(integrations), MappingSettings(), NOW)
    if note is None:
        assert result.notes == ()
    else:
        assert note in result.notes


def test_a_disabled_event_keeps_its_notes() -> None:
    event = with_integrations({"All": False})
    event["properties"] = "not an object"
    result = map_event(event, MappingSettings(), NOW)
    assert isinstance(result, Skipped)
    assert result.notes == ("properties: expected an object, got a string; ignored",)


def test_the_default_names() -> None:
    assert DEFAULT_INTEGRATION_NAMES == (
        "TikTok Conversions",
        "TikTok Conversions API",
        "TikTok Ads",
        "TIKTOK_ADS",
    )
    assert MappingSettings().integration_names == (
        "tiktok conversions",
        "tiktok conversions api",
        "tiktok ads",
        "tiktok_ads",
    )


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [
        ({"My TikTok": False}, OFF),
        ({"my tiktok": False}, OFF),
        ({"All": False, "My TikTok": True}, SENT),
        # configured names replace the defaults
        ({"TikTok Conversions": False}, SENT),
        ({"All": False, "TikTok Ads": True}, ALL_OFF),
    ],
)
def test_configured_names(integrations: Any, expected: tuple[str, str] | None) -> None:
    settings = MappingSettings(integration_names=("My TikTok",))
    assert outcome(with_integrations(integrations), settings) == expected


def test_no_names_leaves_only_all_to_decide() -> None:
    settings = MappingSettings(integration_names=())
    assert outcome(with_integrations({"TikTok Ads": False}), settings) is SENT
    assert outcome(with_integrations({"All": False, "TikTok Ads": True}), settings) == ALL_OFF


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # events TikTok would not receive anyway keep their own reason
        ({"type": "identify", "integrations": {"All": False}}, "unsupported_call_type"),
        (track("Cart Viewed", integrations={"All": False}), "unmapped_event"),
        (track("", integrations={"All": False}), "missing_event_name"),
        # page calls honour integrations like track calls
        ({"type": "page", "integrations": {"All": False}}, "disabled_by_integrations"),
        ({"type": "page", "integrations": {"TikTok Ads": False}}, "disabled_by_integrations"),
    ],
)
def test_integrations_are_checked_after_the_event_table(
    event: dict[str, Any], expected: str
) -> None:
    result = map_event(event, MappingSettings(), NOW)
    assert isinstance(result, Skipped)
    assert result.reason == expected


# -- consent -----------------------------------------------------------------------------------
ADVERTISING = MappingSettings(consent_categories=("Advertising",))
ADVERTISING_REQUIRED = MappingSettings(consent_categories=("Advertising",), consent_required=True)
TWO = MappingSettings(consent_categories=("Advertising", "Marketing"))
TWO_REQUIRED = MappingSettings(
    consent_categories=("Advertising", "Marketing"), consent_required=True
)
NO_CHECK = MappingSettings()


def with_consent(consent: Any) -> dict[str, Any]:
    event = track("Order Completed", {"value": 10})
    if consent is not ...:
        event["context"]["consent"] = consent
    return event


def prefs(**choices: Any) -> dict[str, Any]:
    return {"categoryPreferences": choices}


def denied(category: str) -> tuple[str, str]:
    return "no_consent", category


NOT_COLLECTED = ("no_consent", "no consent preferences")

# (id, context.consent (... = absent), settings, expected outcome)
CONSENT: list[tuple[str, Any, MappingSettings, tuple[str, str] | None]] = [
    # off by default: nothing is checked
    ("off: denied", prefs(Advertising=False), NO_CHECK, SENT),
    ("off: absent", ..., NO_CHECK, SENT),
    # one category
    ("granted", prefs(Advertising=True, Analytics=False), ADVERTISING, SENT),
    ("denied", prefs(Advertising=False, Analytics=True), ADVERTISING, denied("advertising")),
    ("not asked", prefs(Analytics=True), ADVERTISING, denied("advertising")),
    ("empty preferences", prefs(), ADVERTISING, denied("advertising")),
    ("absent", ..., ADVERTISING, SENT),
    ("absent, required", ..., ADVERTISING_REQUIRED, NOT_COLLECTED),
    ("granted, required", prefs(Advertising=True), ADVERTISING_REQUIRED, SENT),
    ("denied, required", prefs(Advertising=False), ADVERTISING_REQUIRED, denied("advertising")),
    ("consent without preferences", {}, ADVERTISING, SENT),
    ("consent without preferences, required", {}, ADVERTISING_REQUIRED, NOT_COLLECTED),
    ("consent null", None, ADVERTISING, SENT),
    ("consent null, required", None, ADVERTISING_REQUIRED, NOT_COLLECTED),
    # every listed category must be granted
    ("both granted", prefs(Advertising=True, Marketing=True), TWO, SENT),
    ("second denied", prefs(Advertising=True, Marketing=False), TWO, denied("marketing")),
    ("first denied", prefs(Advertising=False, Marketing=True), TWO, denied("advertising")),
    ("both denied", prefs(Advertising=False, Marketing=False), TWO, denied("advertising")),
    ("second not asked", prefs(Advertising=True), TWO, denied("marketing")),
    ("both absent", ..., TWO, SENT),
    ("both absent, required", ..., TWO_REQUIRED, NOT_COLLECTED),
    ("both granted, required", prefs(Advertising=True, Marketing=True), TWO_REQUIRED, SENT),
    # category names match case-insensitively
    ("lower-case category", prefs(advertising=True), ADVERTISING, SENT),
    ("upper-case category denied", prefs(ADVERTISING=False), ADVERTISING, denied("advertising")),
    (
        "configured in upper case",
        prefs(Advertising=True),
        MappingSettings(consent_categories=("ADVERTISING",)),
        SENT,
    ),
    # values that are not booleans
    ("'true'", prefs(Advertising="true"), ADVERTISING, SENT),
    ("'false'", prefs(Advertising="false"), ADVERTISING, denied("advertising")),
    ("1", prefs(Advertising=1), ADVERTISING, SENT),
    ("0", prefs(Advertising=0), ADVERTISING, denied("advertising")),
    ("null", prefs(Advertising=None), ADVERTISING, denied("advertising")),
    ("'yes' is not true", prefs(Advertising="yes"), ADVERTISING, denied("advertising")),
    ("an object is not true", prefs(Advertising={"on": True}), ADVERTISING, denied("advertising")),
    # preferences or consent that are not objects: as if absent (noted)
    ("preferences a list", {"categoryPreferences": ["Advertising"]}, ADVERTISING, SENT),
    (
        "preferences a list, required",
        {"categoryPreferences": ["Advertising"]},
        ADVERTISING_REQUIRED,
        NOT_COLLECTED,
    ),
    ("consent a string", "granted", ADVERTISING, SENT),
    ("consent a string, required", "granted", ADVERTISING_REQUIRED, NOT_COLLECTED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("consent", "settings", "expected"),
    [row[1:] for row in CONSENT],
    ids=[row[0] for row in CONSENT],
)
def test_consent(consent: Any, settings: MappingSettings, expected: tuple[str, str] | None) -> None:
    assert outcome(with_consent(consent), settings) == expected


def test_consent_in_an_event_without_context() -> None:
    event = track("Order Completed")
    del event["context"]
    assert outcome(event, ADVERTISING) is SENT
    assert outcome(event, ADVERTISING_REQUIRED) == NOT_COLLECTED


@pytest.mark.parametrize(
    ("consent", "note"),
    [
        (prefs(Advertising="true"), PREFERENCES + STRING_CONVERTED),
        (prefs(Advertising="yes"), PREFERENCES + STRING_IGNORED),
        ({"categoryPreferences": []}, PREFERENCES + "expected an object, got an array; ignored"),
        ("yes", "context.consent: expected an object, got a string; ignored"),
    ],
)  # fmt: skip
def test_consent_values_that_are_not_booleans_are_noted(consent: Any, note: str) -> None:
    assert note in map_event(with_consent(consent), ADVERTISING, NOW).notes


# -- both switches -----------------------------------------------------------------------------
# (integrations, consent, expected) under ADVERTISING_REQUIRED: integrations decide first.
BOTH: list[tuple[Any, Any, tuple[str, str] | None]] = [
    ({"All": True}, prefs(Advertising=True), SENT),
    ({"All": False}, prefs(Advertising=True), ALL_OFF),
    ({"TikTok Ads": False}, prefs(Advertising=False), OFF),
    ({"All": False}, ..., ALL_OFF),
    ({"All": False, "TikTok Ads": True}, prefs(Advertising=False), denied("advertising")),
    ({"All": False, "TikTok Ads": True}, ..., NOT_COLLECTED),
    ({"All": True, "Mixpanel": False}, prefs(Advertising=True), SENT),
]


@pytest.mark.parametrize(("integrations", "consent", "expected"), BOTH)
def test_integrations_decide_before_consent(
    integrations: Any, consent: Any, expected: tuple[str, str] | None
) -> None:
    event = with_consent(consent)
    event["integrations"] = integrations
    assert outcome(event, ADVERTISING_REQUIRED) == expected


# -- settings ----------------------------------------------------------------------------------
def test_settings_store_names_case_folded() -> None:
    settings = MappingSettings(
        integration_names=(" My TikTok ", "Straße"), consent_categories=("Ads ", "C0004")
    )
    assert settings.integration_names == ("my tiktok", "strasse")
    assert settings.consent_categories == ("ads", "c0004")


def test_consent_required_needs_categories() -> None:
    with pytest.raises(ValueError, match="consent_required needs consent_categories"):
        MappingSettings(consent_required=True)


@pytest.mark.parametrize(
    "settings",
    [
        {"integration_names": ("TikTok", "")},
        {"integration_names": ("  ",)},
        {"consent_categories": ("Advertising", "")},
    ],
)
def test_unusable_names_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"integration_names|consent_categories"):
        MappingSettings(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"integration_names": "TikTok Ads"},  # a string, not a tuple of names
        {"integration_names": ["TikTok Ads"]},
        {"consent_categories": None},
        {"consent_categories": ("Advertising", 3)},
    ],
)
def test_names_must_be_a_tuple_of_strings(settings: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        MappingSettings(**settings)
