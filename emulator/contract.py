"""What the emulator knows of TikTok's Events API 2.0 contract: paths, answer codes, messages,
standard event names and currencies. Data only; see ``shared/spec/tiktok-events-api.md``.
"""

from __future__ import annotations

__all__ = [
    "CONTENT_TYPES",
    "CURRENCIES",
    "EVENT_SOURCES",
    "HASHED_USER_FIELDS",
    "HASHED_USER_LIST_FIELDS",
    "MESSAGES",
    "PLAIN_CONTENT_FIELDS",
    "PLAIN_PROPERTY_FIELDS",
    "PLAIN_USER_FIELDS",
    "STANDARD_EVENTS",
    "TRACK_PATH",
]

TRACK_PATH = "/open_api/v1.3/event/track/"
MAX_EVENTS_PER_REQUEST = 1000

OK = 0
INVALID_PARAMS = 40002
NO_PERMISSION = 40001
INVALID_BATCH_SIZE = 40061
PII_NOT_HASHED = 40062
THROTTLED = 40100
TOKEN_EMPTY = 40104
TOKEN_INVALID = 40105

MESSAGES: dict[int, str] = {
    OK: "OK",
    NO_PERMISSION: "No permission to operate pixel code: {pixel}.",
    INVALID_BATCH_SIZE: "Invalid batch size: data must hold between 1 and 1000 events, got {n}.",
    THROTTLED: "Too many requests. Please retry in some time.",
    TOKEN_EMPTY: "Access token is null, you should set it in http header with key Access-Token.",
    TOKEN_INVALID: "Access token is incorrect or has been revoked.",
}

EVENT_SOURCES: frozenset[str] = frozenset({"web", "app", "offline", "crm"})

# Documented fields checked beyond their container's type (anything else is accepted as it is).
# ``user``: SHA-256 hex, a string or an array of strings.
HASHED_USER_LIST_FIELDS = ("email", "phone", "external_id")
# ``user``: SHA-256 hex, a string.
HASHED_USER_FIELDS = ("first_name", "last_name", "zip_code")
# ``user``: plain strings, sent unhashed.
PLAIN_USER_FIELDS = ("city", "state", "country", "ip", "user_agent", "locale", "ttclid", "ttp")
# ``properties``: strings (``currency``, ``value``, ``content_type``, ``contents`` have rules).
PLAIN_PROPERTY_FIELDS = (
    "order_id",
    "shop_id",
    "description",
    "query",
    "search_string",
    "form_name",
    "content_id",
    "content_name",
    "content_category",
    "brand",
)
# ``properties.contents[]``: strings (``price`` and ``quantity`` are numbers).
PLAIN_CONTENT_FIELDS = ("content_id", "content_name", "content_category", "brand")
CONTENT_TYPES: frozenset[str] = frozenset({"product", "product_group"})

# TikTok's standard event names (case-sensitive). Anything else is accepted as a custom event.
STANDARD_EVENTS: frozenset[str] = frozenset(
    {
        "ViewContent",
        "ClickButton",
        "Search",
        "AddToWishlist",
        "AddToCart",
        "InitiateCheckout",
        "AddPaymentInfo",
        "CompletePayment",
        "PlaceAnOrder",
        "Contact",
        "Download",
        "SubmitForm",
        "CompleteRegistration",
        "Subscribe",
        "Pageview",
        "Purchase",
        "Lead",
    }
)

# ISO 4217 active alphabetic codes.
CURRENCIES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a table is easier to check than 180 quoted strings
)
