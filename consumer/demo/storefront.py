"""Realistic storefront Segment events for the demo, tests and benchmarks (deterministic).

:func:`generate` yields a seeded stream of the events a web shop sends through a CDP: page calls,
every track event the TikTok mapping knows, identify calls and events it skips, from a
population of shoppers (some known, with emails, phones in several national and international
formats, names and addresses; some anonymous), with product arrays, ``ttclid`` click ids in some
URLs and unique message ids. The same ``(n, seed, now)`` always gives the same events.

The shipped dataset ``consumer/demo/data/storefront.jsonl.gz`` (:data:`SAMPLE_PATH`) is
``generate(SAMPLE_SIZE, SAMPLE_SEED, DATASET_NOW, switches=True)`` (with consent choices and
``integrations`` objects that turn TikTok off for some events): its timestamps end at the fixed
:data:`DATASET_NOW`. TikTok (and the emulator) refuse events older than 7 days or in the future,
so :func:`load_sample` re-bases them to end at the current time (and `tiktok-capi produce
--rebase-timestamps` does the same to any file). Regenerate the file with
``python -m tiktok_capi.consumer.demo.storefront``. All personal data is fictitious (example.com
addresses, 555-01xx phone numbers and their like abroad, documentation IP ranges); every phone
number is a valid number of its country, so the mapping sends it.
"""

from __future__ import annotations

import gzip
import random
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, cast

import orjson

from tiktok_capi.mapping.timestamps import iso_utc

__all__ = [
    "DATASET_NOW",
    "MAPPED_EVENTS",
    "SAMPLE_PATH",
    "SAMPLE_SEED",
    "SAMPLE_SIZE",
    "TIMESTAMP_FIELDS",
    "UNMAPPED_EVENTS",
    "format_timestamp",
    "generate",
    "load_events",
    "load_sample",
    "rebase_timestamps",
    "write_jsonl",
]

SAMPLE_PATH: Final = Path(__file__).resolve().parent / "data" / "storefront.jsonl.gz"
SAMPLE_SIZE: Final = 5000
SAMPLE_SEED: Final = 20241125
DATASET_NOW: Final = datetime(2025, 1, 1, tzinfo=UTC)
TIMESTAMP_FIELDS: Final = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
MAX_SPAN: Final = timedelta(days=6)
"""The longest span :func:`rebase_timestamps` keeps (TikTok refuses events over 7 days old)."""

# Track events the TikTok mapping sends (see docs/spec), and some it skips.
MAPPED_EVENTS: Final = (
    "Order Completed",
    "Checkout Started",
    "Product Added",
    "Product Viewed",
    "Products Searched",
    "Payment Info Entered",
    "Product Added to Wishlist",
    "Product Clicked",
    "Order Placed",
    "Account Created",
    "Form Submitted",
    "Callback Started",
    "Subscription Created",
    "Download Link Clicked",
)
UNMAPPED_EVENTS: Final = (
    "Cart Viewed",
    "Coupon Applied",
    "Promotion Viewed",
    "Signed Out",
    "Product Reviewed",
    "order completed",  # case matters: not "Order Completed"
)

_SHOP = "https://shop.example.com"
_FIRST = (
    "Jane", "John", "Amélie", "Lars", "Priya", "Wei", "Sofía", "Kwame", "Yuki", "Olivia",
    "Mateo", "Zoë", "Noah", "Fatima", "Liam", "Emma", "Hiroshi", "Chloé", "Oskar", "Ana",
)  # fmt: skip
_LAST = (
    "Doe", "Smith", "Müller", "García", "Nguyen", "O'Brien", "Kowalski", "Rossi", "Tanaka",
    "Johnson", "Dubois", "Silva", "Andersson", "Patel", "Kim", "Brown", "López", "Novák",
)  # fmt: skip
_PLACES = (
    ("San Francisco", "CA", "US", "94107", "+1", "415"),
    ("New York", "NY", "US", "10001", "+1", "212"),
    ("Austin", "TX", "US", "73301", "+1", "512"),
    ("Seattle", "WA", "US", "98101", "+1", "206"),
    ("Toronto", "ON", "CA", "M5V 2T6", "+1", "416"),
    ("London", "England", "GB", "SW1A 1AA", "+44", "20"),
    ("Berlin", "BE", "DE", "10115", "+49", "30"),
    ("Paris", "Île-de-France", "FR", "75001", "+33", "1"),
    ("São Paulo", "SP", "BR", "01000-000", "+55", "11"),
    ("Tokyo", "Tokyo", "JP", "100-0001", "+81", "3"),
)
_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
)
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "pt-BR", "ja-JP", "es-ES")
_CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "CAD")
_CATALOG = (
    ("Games", "Hasbro", ("Monopoly: 3rd Edition", "Scrabble Deluxe", "Jenga Classic")),
    ("Games", "Mattel", ("Uno Card Game", "Pictionary", "Skip-Bo")),
    ("Apparel", "Acme Wear", ("Organic Cotton T-Shirt", "Merino Wool Socks", "Rain Jacket")),
    ("Shoes", "Stride", ("Trail Runner 2", "Canvas Sneaker", "Leather Boot")),
    ("Home", "Nordhem", ("Ceramic Mug — Set of 4", "Linen Throw", "Oak Cutting Board")),
    ("Beauty", "Lumière", ("Hydrating Serum 30ml", "SPF 50 Sunscreen", "Lip Balm Trio")),
    ("Electronics", "Voltix", ("USB-C Charger 65W", "Noise-Cancelling Earbuds", "4K Webcam")),
)
_SEARCHES = ("running shoes", "board games", "gift for dad", "wool socks", "webcam 4k", "serum")
_FORMS = ("newsletter", "contact_us", "wholesale_inquiry", "size_guide_request")
_PATHS = ("/", "/collections/new", "/collections/sale", "/pages/about", "/blogs/news",
          "/cart", "/search", "/account/login")  # fmt: skip


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as analytics libraries write it."""
    return iso_utc(moment)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rebase_timestamps(events: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Move the events' times so that the latest ``timestamp`` becomes ``now``.

    Every field of :data:`TIMESTAMP_FIELDS` that parses as ISO-8601 moves with it, so the events
    keep their order and spacing — except that a dataset spanning more than
    :data:`MAX_SPAN` is squeezed into it (TikTok rejects events older than seven days). Events
    without a parsable time are left as they are. Returns new dicts; the inputs are untouched.
    """
    copies = [dict(event) for event in events]
    anchors = [m for m in (_parse(e.get("timestamp")) for e in copies) if m is not None]
    times = [m for e in copies for m in (_parse(e.get(f)) for f in TIMESTAMP_FIELDS) if m]
    if not times:
        return copies
    newest = max(anchors) if anchors else max(times)
    oldest = min(times)
    span = newest - oldest
    scale = min(1.0, MAX_SPAN / span) if span > MAX_SPAN else 1.0
    for event in copies:
        for name in TIMESTAMP_FIELDS:
            moment = _parse(event.get(name))
            if moment is not None:
                event[name] = format_timestamp(now - (newest - moment) * scale)
    return copies


# --- the population -------------------------------------------------------------------------------
class _Shopper:
    __slots__ = ("address", "agent", "anonymous_id", "email", "first", "ip", "last", "locale",
                 "phone", "user_id")  # fmt: skip

    def __init__(self, rng: random.Random, index: int) -> None:
        self.anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        known = rng.random() < 0.6
        self.user_id = f"user-{10000 + index}" if known else None
        self.first = rng.choice(_FIRST)
        self.last = rng.choice(_LAST)
        city, state, country, postal, code, area = rng.choice(_PLACES)
        self.address: dict[str, Any] = {"city": city, "state": state, "country": country}
        self.address["postal_code" if rng.random() < 0.7 else "zip_code"] = postal
        if rng.random() < 0.3:
            self.address["street"] = f"{rng.randint(1, 999)} Example Street"
        self.email = _email(rng, self.first, self.last, index) if known else None
        self.phone = _phone(rng, code, area) if known and rng.random() < 0.7 else None
        self.agent = rng.choice(_AGENTS)
        self.locale = rng.choice(_LOCALES)
        self.ip = (
            f"2001:db8::{rng.randint(1, 0xFFFF):x}"
            if rng.random() < 0.15
            else f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
        )

    def traits(self) -> dict[str, Any]:
        traits: dict[str, Any] = {"first_name": self.first, "last_name": self.last}
        if self.email is not None:
            traits["email"] = self.email
        if self.phone is not None:
            traits["phone"] = self.phone
        traits["address"] = dict(self.address)
        return traits


def _ascii(name: str) -> str:
    table = str.maketrans("éèëüöäàáíóúñçãÎîô", "eeeuoaaaiouncaIio")
    return name.translate(table).replace("'", "").lower()


def _email(rng: random.Random, first: str, last: str, index: int) -> str:
    local = rng.choice(
        (f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)[0]}{_ascii(last)}{index % 100}")
    )
    domain = rng.choice(("example.com", "example.org", "example.net", "mail.example.com"))
    email = f"{local}@{domain}"
    roll = rng.random()
    if roll < 0.15:
        email = f"{first}.{last}@{domain}".replace("'", "")  # mixed case
    elif roll < 0.2:
        email = f"  {email} "  # untrimmed
    return email


# Subscriber numbers outside North America, in ranges set aside for fiction where one exists
# (Ofcom's drama range 020 7946 0xxx, ARCEP's 01 99 00 xx xx) and otherwise valid in
# libphonenumber's plan of the country, so that the mapping sends them: {d} is a digit, {line}
# three.
_SUBSCRIBERS: Final = {
    "+44": "79460{line}",
    "+49": "555{d}{line}",
    "+33": "9900{d}{line}",
    "+55": "3555{d}{line}",
    "+81": "555{d}0{line}",
}


def _phone(rng: random.Random, code: str, area: str) -> str:
    line = f"{rng.randint(100, 199):03d}"  # 555-01xx: reserved for fiction in North America
    if code != "+1":
        number = _SUBSCRIBERS[code].format(d=rng.randint(0, 9), line=line)
    else:
        number = f"5550{line}"
    if code == "+1":
        return rng.choice(
            (
                f"+1 {area}-{number[:3]}-{number[3:]}",
                f"({area}) {number[:3]}-{number[3:]}",
                f"{area}{number}",
                f"+1{area}{number}",
                f"1-{area}-{number[:3]}-{number[3:]}",
            )
        )
    return rng.choice((f"{code} {area} {number[:4]} {number[4:]}", f"{code}{area}{number}"))


# --- events ---------------------------------------------------------------------------------------
def _product(rng: random.Random, with_quantity: bool = True) -> dict[str, Any]:
    category, brand, names = rng.choice(_CATALOG)
    name = rng.choice(names)
    product: dict[str, Any] = {
        "product_id": f"{rng.getrandbits(48):012x}",
        "sku": f"{rng.randint(10000, 99999)}-{rng.randint(10, 99)}",
        "name": name,
        "category": category,
        "brand": brand,
        "price": rng.choice((rng.randint(5, 120), round(rng.uniform(4, 250), 2))),
        "url": f"{_SHOP}/products/{name.lower().replace(' ', '-')}",
    }
    if with_quantity:
        product["quantity"] = rng.choice((1, 1, 1, 2, 3))
    if rng.random() < 0.5:
        product["image_url"] = product["url"] + ".jpg"
    if rng.random() < 0.2:
        product["variant"] = rng.choice(("red", "blue", "M", "L", "42"))
    return product


def _order(rng: random.Random, shopper: _Shopper, checkout: bool) -> dict[str, Any]:
    products = [_product(rng) for _ in range(rng.choice((1, 1, 2, 3, 4)))]
    subtotal = round(sum(p["price"] * p["quantity"] for p in products), 2)
    props: dict[str, Any] = {
        "order_id": f"{rng.getrandbits(64):016x}" if not checkout else None,
        "checkout_id": f"chk_{rng.getrandbits(40):010x}",
        "currency": rng.choice(_CURRENCIES),
        "products": products,
    }
    if props["order_id"] is None:
        del props["order_id"]
    roll = rng.random()
    shipping = rng.choice((0, 4.99, 9.5))
    tax = round(subtotal * 0.08, 2)
    if roll < 0.5:
        props["value"] = round(subtotal + shipping + tax, 2)
    elif roll < 0.8:
        props["revenue"] = subtotal
    props.update({"shipping": shipping, "tax": tax})
    if rng.random() < 0.2:
        props["coupon"] = rng.choice(("WELCOME10", "FREESHIP"))
        props["discount"] = round(subtotal * 0.1, 2)
    if rng.random() < 0.3:
        props["shop_id"] = "shop-eu-1" if rng.random() < 0.5 else "shop-us-1"
    if rng.random() < 0.3 and shopper.email:
        props["email"] = shopper.email
    if rng.random() < 0.25:
        props["address"] = dict(shopper.address)
    props["content_type"] = "product"
    return props


def _single_product(rng: random.Random) -> dict[str, Any]:
    props = _product(rng, with_quantity=rng.random() < 0.7)
    props["currency"] = rng.choice(_CURRENCIES)
    if rng.random() < 0.3:
        props["value"] = props["price"]
    props["content_type"] = rng.choice(("product", "product", "product_group"))
    return props


def _track_properties(rng: random.Random, name: str, shopper: _Shopper) -> dict[str, Any]:
    if name in ("Order Completed", "Order Placed"):
        return _order(rng, shopper, checkout=False)
    if name in ("Checkout Started", "Payment Info Entered"):
        props = _order(rng, shopper, checkout=True)
        if name == "Payment Info Entered":
            props["payment_method"] = rng.choice(("card", "paypal", "apple_pay"))
        return props
    if name in ("Product Added", "Product Viewed", "Product Clicked", "Product Added to Wishlist"):
        return _single_product(rng)
    if name == "Products Searched":
        search: dict[str, Any] = {}
        search["query" if rng.random() < 0.7 else "search_term"] = rng.choice(_SEARCHES)
        if rng.random() < 0.5:
            search.update(_single_product(rng))
        return search
    if name == "Account Created":
        return {"signup_method": rng.choice(("email", "google", "apple")), "email": shopper.email}
    if name == "Form Submitted":
        form = rng.choice(_FORMS)
        return {"form_name": form} if rng.random() < 0.7 else {"name": form, "form_id": "f-1"}
    if name == "Callback Started":
        return {"topic": rng.choice(("returns", "sizing", "order status")), "phone": shopper.phone}
    if name == "Subscription Created":
        plan = rng.choice((("monthly-box", 29), ("annual-box", 299.0)))
        return {"plan": plan[0], "value": plan[1], "currency": "USD", "status": "active"}
    if name == "Download Link Clicked":
        return {"url": f"{_SHOP}/downloads/catalog-2025.pdf", "file_type": "pdf"}
    return {"label": name.lower(), "nonInteraction": rng.random() < 0.5}


def _page_url(rng: random.Random, path: str) -> str:
    url = f"{_SHOP}{path}"
    if rng.random() < 0.2:
        url += f"?ttclid=E.C.P.{rng.getrandbits(60):015x}&utm_source=tiktok"
    elif rng.random() < 0.1:
        url += "?utm_source=newsletter&utm_medium=email"
    return url


def _context(rng: random.Random, shopper: _Shopper, path: str) -> dict[str, Any]:
    url = _page_url(rng, path)
    search = url[url.index("?") :] if "?" in url else ""
    context: dict[str, Any] = {
        "ip": shopper.ip,
        "userAgent": shopper.agent,
        "locale": shopper.locale,
        "page": {
            "path": path,
            "referrer": rng.choice(
                ("", "https://www.tiktok.com/", f"{_SHOP}/", "https://www.example.org/")
            ),
            "search": search,
            "title": path.strip("/").replace("/", " · ").title() or "Home",
            "url": url,
        },
        "library": {"name": "analytics.js", "version": "next-1.64.0"},
    }
    if shopper.user_id is not None and rng.random() < 0.8:
        context["traits"] = shopper.traits()
    if rng.random() < 0.1:
        context["campaign"] = {"name": "spring_sale", "source": "tiktok", "medium": "paid_social"}
    return context


def _event_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.30:
        return "page"
    if roll < 0.35:
        return "identify"
    if roll < 0.45:
        return rng.choice(UNMAPPED_EVENTS)
    return rng.choices(MAPPED_EVENTS, weights=(6, 6, 12, 22, 8, 4, 3, 8, 2, 3, 3, 1, 2, 2), k=1)[0]


def _consent(rng: random.Random) -> dict[str, bool] | None:
    """A shopper's choices on the consent banner; ``None`` where none was shown (half of them)."""
    if rng.random() < 0.5:
        return None
    return {
        "Advertising": rng.random() >= 0.08,
        "Analytics": rng.random() >= 0.2,
        "Functional": True,
    }


def _add_switches(
    rng: random.Random, event: dict[str, Any], consent: dict[str, bool] | None
) -> None:
    """The source's own switches: consent choices, and ``integrations`` naming TikTok."""
    if consent is not None:
        event["context"]["consent"] = {"categoryPreferences": dict(consent)}
    roll = rng.random()
    if roll < 0.015:  # this event is not for TikTok
        event["integrations"] = {"All": True, "TikTok Conversions": False}
    elif roll < 0.025:  # only for the analytics tools
        event["integrations"] = {"All": False, "Google Analytics": True, "Mixpanel": True}
    elif roll < 0.035:  # only for TikTok and one other: still sent
        event["integrations"] = {"All": False, "TikTok Conversions": True, "Google Analytics": True}


def generate(
    n: int,
    seed: int = SAMPLE_SEED,
    now: datetime = DATASET_NOW,
    *,
    span: timedelta | None = None,
    switches: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` storefront events, the same for the same arguments.

    Timestamps increase through ``span`` (default one hour) and end a second before ``now``.
    With ``switches`` (the shipped dataset and the demo), events also carry the source's own
    switches: half the shoppers made consent choices (``context.consent.categoryPreferences``;
    about 8% of them declined ``Advertising``), and about 2.5% of events have an
    ``integrations`` object that turns TikTok off (1% more name TikTok with ``"All": false``).
    Benchmarks measure the stream without them.
    """
    rng = random.Random(seed)
    shoppers = [_Shopper(rng, i) for i in range(max(20, n // 8))]
    # The switches draw from a stream of their own: with or without them, every other field of
    # every event is the same.
    extra = random.Random(f"switches-{seed}") if switches else None
    consents = {s.anonymous_id: _consent(extra) for s in shoppers} if extra is not None else {}
    span = span if span is not None else timedelta(hours=1)
    start = now - span - timedelta(seconds=1)
    step = span / max(n, 1)
    for i in range(n):
        shopper = rng.choice(shoppers)
        moment = start + step * i + timedelta(milliseconds=rng.randint(0, 900))
        event = _event(rng, shopper, _event_name(rng), moment)
        if extra is not None:
            _add_switches(extra, event, consents[shopper.anonymous_id])
        yield event


def _event(rng: random.Random, shopper: _Shopper, name: str, moment: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {}
    if name == "page":
        event["type"] = "page"
        path = rng.choice(_PATHS)
        if rng.random() < 0.8:
            event["name"] = path.strip("/").split("/")[-1].title() or "Home"
    elif name == "identify":
        event["type"] = "identify"
        path = "/account"
    else:
        event["type"] = "track"
        event["event"] = name
        path = rng.choice(("/cart", "/checkout", "/products/item", "/"))
    event["messageId"] = f"ajs-next-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    event["anonymousId"] = shopper.anonymous_id
    if shopper.user_id is not None:
        event["userId"] = shopper.user_id
    event["timestamp"] = format_timestamp(moment)
    event["originalTimestamp"] = format_timestamp(
        moment - timedelta(milliseconds=rng.randint(0, 50))
    )
    event["sentAt"] = format_timestamp(moment + timedelta(milliseconds=rng.randint(1, 50)))
    event["receivedAt"] = format_timestamp(moment + timedelta(milliseconds=rng.randint(60, 400)))
    context = _context(rng, shopper, path)
    event["context"] = context
    if name == "identify":
        event["traits"] = {**shopper.traits(), "created_at": "2023-06-01T10:00:00Z"}
        context.pop("traits", None)
    elif name == "page":
        page = context["page"]
        event["properties"] = {k: page[k] for k in ("path", "referrer", "search", "title", "url")}
    else:
        event["properties"] = _track_properties(rng, name, shopper)
        if rng.random() < 0.05:
            event["properties"]["ttclid"] = f"E.C.P.{rng.getrandbits(60):015x}"
        if rng.random() < 0.05:
            event["properties"]["ttp"] = f"{rng.getrandbits(80):020x}"
    if rng.random() < 0.05:
        event["limited_data_use"] = True
    event["integrations"] = (
        {"All": True} if rng.random() < 0.7 else {"All": True, "Mixpanel": False}
    )
    return event


def _dumps(event: Mapping[str, Any]) -> bytes:
    return orjson.dumps(event) + b"\n"


def write_jsonl(events: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write ``events`` as JSON lines (gzip-compressed when ``path`` ends in .gz); count them."""
    count = 0
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the header: the same events give the same bytes.
        out = cast(
            IO[bytes],
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            if path.suffix == ".gz"
            else raw,
        )
        with out:
            for event in events:
                out.write(_dumps(event))
                count += 1
    return count


def load_events() -> list[dict[str, Any]]:
    """The shipped dataset as stored: timestamps end at :data:`DATASET_NOW` (re-base them)."""
    with gzip.open(SAMPLE_PATH, "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def load_sample(now: datetime | None = None) -> list[dict[str, Any]]:
    """The shipped dataset, timestamps re-based to end at ``now`` (default: the current time)."""
    return rebase_timestamps(load_events(), now if now is not None else datetime.now(UTC))


if __name__ == "__main__":
    SAMPLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    written = write_jsonl(
        generate(SAMPLE_SIZE, SAMPLE_SEED, DATASET_NOW, switches=True), SAMPLE_PATH
    )
    import sys

    sys.stdout.write(f"wrote {written} events to {SAMPLE_PATH}\n")
