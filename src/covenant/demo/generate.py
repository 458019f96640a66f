"""Deterministic demo rows for every table, produced chunk by chunk.

Owns what the demo store contains: about 100 rows per customer (page views,
location pings and web sessions dominate), plus people who are not customers:
anonymous visitors known by a cookie, contest entrants known by an e-mail, and
callers known only by a phone number. Never touches a database: it yields plain
tuples in each table's column order, and the loader decides how to write them.

Determinism: every person draws from their own ``random.Random`` seeded with
(seed, kind, index), and ids are numbered in generation order, so the same seed
and the same number of customers give identical rows, whatever the machine. Time
is counted from a fixed reference date, never from today, yet the data spans ten
years so that some orders are past the seven-year tax hold and some are recent.

Speed: values are written as the SQL text each database accepts (timestamps as
``YYYY-MM-DD HH:MM:SS.ffffff``, the form SQLAlchemy itself stores in SQLite, so
text comparisons there order correctly), built from precomputed day and time
strings rather than formatted row by row. Memory stays bounded: one chunk of
``CHUNK`` customers is in memory at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from covenant.demo import pools as P
from covenant.demo.schema import TABLES

REFERENCE = dt.datetime(2026, 11, 1)
"""'Now' in the demo data. Fixed so that rows do not depend on the day they are made."""

DAY = 86_400
YEAR = 365 * DAY
SPAN_DAYS = 11 * 366
START = REFERENCE - dt.timedelta(days=SPAN_DAYS)
NOW = SPAN_DAYS * DAY
"""REFERENCE, in seconds since START: every timestamp is an int on this clock."""

CHUNK = 1000
"""Customers per chunk: about 100k rows, a few tens of MB."""

SAMPLES = 3
"""The first customers are showcase profiles with data in every table."""

ROWS_PER_CUSTOMER = 102
"""Expected rows per customer, all tables together; used for progress estimates."""

Row = tuple[Any, ...]
Chunk = dict[str, list[Row]]


@dataclass(frozen=True, slots=True)
class SampleCustomer:
    customer_id: int
    email: str
    phone: str
    cookie_id: str
    device_id: str | None


@dataclass(frozen=True, slots=True)
class Samples:
    """Identities worth trying requests with; all of them exist in the generated rows."""

    customers: tuple[SampleCustomer, ...]
    tax_hold_customer: SampleCustomer
    """Has orders older than seven years and recent ones."""
    anonymous_cookie_id: str
    """A visitor with web sessions and an affiliate click, but no account."""
    contest_only_email: str
    """A contest entrant who is not a customer."""
    call_only_phone: str
    """A caller found only in the call-center log."""


@dataclass(frozen=True, slots=True)
class Person:
    """A customer's identity and fixed traits, drawn first from their own generator."""

    id: int
    first: str
    last: str
    email: str
    phone: str
    cookie_id: str
    device_id: str | None
    created: int
    country: str
    place: tuple[str, str, str]
    street: str


class Clock:
    """Seconds since START written as SQL date and timestamp text."""

    def __init__(self) -> None:
        first = START.date()
        self.days = tuple((first + dt.timedelta(days=d)).isoformat() for d in range(SPAN_DAYS + 1))
        self.times = tuple(
            f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(DAY)
        )

    def ts(self, t: int) -> str:
        return self.days[t // DAY] + self.times[t % DAY]

    def date(self, t: int) -> str:
        return self.days[t // DAY]


class Ids:
    """The next id of each table, so ids follow generation order."""

    def __init__(self) -> None:
        self.next = {t.name: 1 for t in TABLES}

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def phone(index: int) -> str:
    """The index-th fictional E.164 number: distinct for the first 7.8 million."""
    codes = P.AREA_CODES
    return f"+1{codes[index % len(codes)]}555{(index // len(codes)) % 10_000:04d}"


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT_RUN = re.compile(r"\d{13}")


def _token(rng: random.Random) -> str:
    """A processor-style card token: 24 base-62 characters after ``tok_``.

    Never 13 digits in a row, so nothing in the payments table looks like a card
    number to a scanner (or to the test that checks there is none).
    """
    while True:
        n = rng.getrandbits(143)
        chars = []
        for _ in range(24):
            n, r = divmod(n, 62)
            chars.append(_BASE62[r])
        token = "tok_" + "".join(chars)
        if not _DIGIT_RUN.search(token):
            return token


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * max(high - low, 1))


class StoreData:
    """The demo store's rows for ``customers`` customers and ``seed``."""

    def __init__(self, customers: int, seed: int) -> None:
        if customers < 1:
            raise ValueError("a demo store needs at least one customer")
        self.customers = customers
        self.seed = seed
        self.pools = P.build(seed)
        self.clock = Clock()

    def rng(self, kind: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}/{kind}/{index}")

    def chunks(self) -> Iterator[Chunk]:
        """Every row, one chunk of customers (and their share of non-customers) at a time."""
        ids = Ids()
        visitors = entrants = callers = 0
        for start in range(0, self.customers, CHUNK):
            stop = min(start + CHUNK, self.customers)
            writer = _Writer(self, ids)
            for i in range(start, stop):
                writer.customer(i)
            n = stop - start
            for k in range(visitors, visitors + (n * 3 + 4) // 5):
                writer.visitor(k)
            for k in range(entrants, entrants + max(1, n // 10)):
                writer.entrant(k)
            for k in range(callers, callers + max(1, n // 10)):
                writer.caller(k)
            visitors += (n * 3 + 4) // 5
            entrants += max(1, n // 10)
            callers += max(1, n // 10)
            yield writer.rows

    def samples(self) -> Samples:
        people = [self.person(i)[0] for i in range(min(SAMPLES, self.customers))]
        customers = tuple(
            SampleCustomer(p.id, p.email, p.phone, p.cookie_id, p.device_id) for p in people
        )
        return Samples(
            customers=customers,
            tax_hold_customer=customers[0],
            anonymous_cookie_id=self.visitor_cookie(self.rng("visitor", 0)),
            contest_only_email=self.entrant_email(0, self.rng("entrant", 0)),
            call_only_phone=self.caller_phone(0),
        )

    def person(self, i: int) -> tuple[Person, random.Random]:
        """Customer ``i``'s identity, and their generator positioned after it."""
        rng = self.rng("customer", i)
        first, last, stem = rng.choice(self.pools.names)
        showcase = i < SAMPLES
        created = NOW - (int(9.5 * YEAR) if showcase else _between(rng, 2 * DAY, 10 * YEAR))
        created += int(rng.random() * DAY)
        cookie = _hex(rng, 128)
        app = showcase or rng.random() < 0.6
        device = _uuid(rng) if app else None
        country = rng.choice(P.COUNTRIES)
        place = P.EU_CITIES[country] if country in P.EU_CITIES else rng.choice(self.pools.places)
        person = Person(
            id=i + 1, first=first, last=last,
            email=f"{stem}{i + 1}@{rng.choice(P.DOMAINS)}",
            phone=phone(i), cookie_id=cookie, device_id=device, created=created,
            country=country, place=place, street=rng.choice(self.pools.streets),
        )
        return person, rng

    def visitor_cookie(self, rng: random.Random) -> str:
        return _hex(rng, 128)

    def entrant_email(self, k: int, rng: random.Random) -> str:
        # Plus-addressed, a form no customer e-mail takes: entrants are never customers.
        stem = rng.choice(self.pools.names)[2]
        return f"{stem}+contest{k + 1}@{rng.choice(P.DOMAINS)}"

    def caller_phone(self, k: int) -> str:
        # Numbers past the last customer's, so they belong to no customer.
        return phone(self.customers + k)


class _Writer:
    """Appends one chunk's rows; one method per kind of person or record."""

    def __init__(self, data: StoreData, ids: Ids) -> None:
        self.data = data
        self.pools = data.pools
        self.clock = data.clock
        self.ids = ids
        self.rows: Chunk = {t.name: [] for t in TABLES}

    def add(self, table: str, row: Row) -> int:
        self.rows[table].append(row)
        return int(row[0])

    # -- customers -------------------------------------------------------------

    def customer(self, i: int) -> None:
        p, rng = self.data.person(i)
        ts = self.clock.ts
        dob = (REFERENCE.date() - dt.timedelta(days=_between(rng, 16 * 366, 85 * 365))).isoformat()
        self.add("customers", (
            p.id, p.email, p.phone, p.first, p.last,
            rng.choice(self.pools.password_hashes), dob, ts(p.created),
        ))
        addresses = self.addresses(p, rng)
        self.orders(p, rng, addresses, showcase=i < SAMPLES)
        self.customer_sessions(p, rng, showcase=i < SAMPLES)
        if p.device_id:
            self.app(p.device_id, p.id if rng.random() < 0.9 or i < SAMPLES else None, p, rng)
        self.support(p, rng)
        self.engagement(p, rng)

    def addresses(self, p: Person, rng: random.Random) -> list[int]:
        count = 1 + (rng.random() < 0.4) + (rng.random() < 0.1)
        out = []
        for n in range(count):
            city, state, postal = p.place if n == 0 else rng.choice(self.pools.places)
            street = p.street if n == 0 else rng.choice(self.pools.streets)
            country = p.country if n == 0 else "US"
            delivery_phone = p.phone if rng.random() < 0.7 else None
            out.append(self.add("addresses", (
                self.ids.take("addresses"), p.id, street, city, state, postal, country,
                delivery_phone,
            )))
        return out

    def orders(
        self, p: Person, rng: random.Random, addresses: list[int], *, showcase: bool
    ) -> None:
        count = rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7))
        times = sorted(_between(rng, p.created, NOW - 3600) for _ in range(count))
        if showcase:  # one order past the seven-year tax hold, one recent
            times = [p.created + 10 * DAY, *times, NOW - 12 * DAY]
        currency = "EUR" if p.country in P.EU_CITIES else "USD"
        cards = [self.card(rng) for _ in range(1 + (rng.random() < 0.3))]
        for placed in times:
            self.order(p, rng, placed, currency, rng.choice(addresses), rng.choice(cards))

    def card(self, rng: random.Random) -> tuple[str, str, int, int, str]:
        """(brand, last four, expiry month, years valid, processor token): never the number."""
        return (rng.choice(P.CARD_BRANDS), f"{rng.randrange(10_000):04d}", rng.randrange(1, 13),
                rng.randrange(1, 6), _token(rng))

    def order(
        self, p: Person, rng: random.Random, placed: int, currency: str, address: int,
        card: tuple[str, str, int, int, str],
    ) -> None:
        order_id = self.ids.take("orders")
        placed_at = self.clock.ts(placed)
        total = 0
        for _ in range(rng.choice((1, 1, 2, 2, 3, 3))):
            sku, name, price, _registrable = rng.choice(P.CATALOG)
            quantity = 1 + (rng.random() < 0.15)
            total += price * quantity
            self.add("order_items", (
                self.ids.take("order_items"), order_id, placed_at, sku, name, quantity, price,
            ))
        ip = rng.choice(self.pools.ips)
        self.add("orders", (order_id, p.id, placed_at, total, currency, ip, address))
        brand, last4, month, years, token = card
        expiry = f"{month:02d}/{(int(placed_at[:4]) + years) % 100:02d}"
        self.add("payments", (
            self.ids.take("payments"), order_id, placed_at, brand, last4, expiry, token,
        ))
        if rng.random() < 0.1:
            made = min(placed + _between(rng, 3 * DAY, 45 * DAY), NOW)
            self.add("returns", (
                self.ids.take("returns"), order_id, rng.choice(P.RETURN_REASONS),
                rng.choice(P.ID_DOCUMENTS), f"{rng.randrange(10_000):04d}", self.clock.ts(made),
            ))

    def customer_sessions(self, p: Person, rng: random.Random, *, showcase: bool) -> None:
        count = rng.randrange(2 if showcase else 1, 12)
        second_cookie = _hex(rng, 128)  # the same person on another browser
        since = max(p.created, NOW - 3 * YEAR)
        for _ in range(count):
            cookie = p.cookie_id if rng.random() < 0.85 else second_cookie
            signed_in = p.id if rng.random() < 0.7 else None
            self.session(rng, cookie, signed_in, _between(rng, since, NOW - 7200))
        if rng.random() < 0.4:
            self.affiliate_click(rng, p.cookie_id, _between(rng, since, NOW))

    # -- web logs --------------------------------------------------------------

    def session(self, rng: random.Random, cookie: str, customer: int | None, start: int) -> None:
        session_id = self.ids.take("web_sessions")
        started_at = self.clock.ts(start)
        self.add("web_sessions", (
            session_id, cookie, customer, rng.choice(self.pools.ips),
            rng.choice(P.USER_AGENTS), started_at,
        ))
        # The hot loop of the whole generator (over half of all rows): locals only.
        views = self.rows["page_views"]
        next_id = self.ids.next["page_views"]
        urls, days, times, rand = self.pools.urls, self.clock.days, self.clock.times, rng.random
        nurls = len(urls)
        t = start
        for _ in range(1 + int(rand() * 13)):
            duration = 1500 + int(rand() * 118_500)
            views.append((next_id, session_id, started_at, urls[int(rand() * nurls)],
                          days[t // DAY] + times[t % DAY], duration))
            next_id += 1
            t += duration // 1000 + 1
        self.ids.next["page_views"] = next_id

    def affiliate_click(self, rng: random.Random, cookie: str, at: int) -> None:
        self.add("affiliate_clicks", (
            self.ids.take("affiliate_clicks"), cookie, rng.choice(P.AFFILIATES),
            rng.choice(self.pools.ips), rng.choice(self.pools.urls), self.clock.ts(at),
        ))

    def visitor(self, k: int) -> None:
        """Someone who browses without an account: known only by a cookie."""
        rng = self.data.rng("visitor", k)
        cookie = self.data.visitor_cookie(rng)
        for _ in range(rng.randrange(1, 6)):
            self.session(rng, cookie, None, _between(rng, NOW - 3 * YEAR, NOW - 7200))
        if k == 0 or rng.random() < 0.4:
            for _ in range(rng.randrange(1, 3)):
                self.affiliate_click(rng, cookie, _between(rng, NOW - 3 * YEAR, NOW))

    # -- the companion app -----------------------------------------------------

    def app(self, device: str, customer: int | None, p: Person, rng: random.Random) -> None:
        installed = _between(rng, max(p.created, NOW - 3 * YEAR), NOW - DAY)
        self.add("app_installs", (
            self.ids.take("app_installs"), device, customer, rng.choice(P.PLATFORMS),
            _hex(rng, 256), self.clock.ts(installed),
        ))
        for _ in range(rng.randrange(0, 6)):
            self.voice(rng, device, _between(rng, installed, NOW))
        self.pings(rng, device, installed)

    def voice(self, rng: random.Random, device: str, at: int) -> None:
        recording_id = self.ids.take("voice_recordings")
        command = rng.choice(P.VOICE_COMMANDS).format(
            room=rng.choice(P.ROOMS), n=rng.randrange(-5, 6), product=rng.choice(P.CATALOG)[1]
        )
        self.add("voice_recordings", (
            recording_id, device, f"s3://resonance-voice-samples/{device}/{recording_id}.opus",
            command, self.clock.ts(at),
        ))

    def pings(self, rng: random.Random, device: str, installed: int) -> None:
        home_lat, home_lon = 25 + rng.random() * 23, -124 + rng.random() * 54
        rows, ts, rand = self.rows["location_pings"], self.clock.ts, rng.random
        next_id = self.ids.next["location_pings"]
        for _ in range(rng.randrange(10, 41)):
            rows.append((
                next_id, device, f"{home_lat + (rand() - 0.5) * 0.1:.6f}",
                f"{home_lon + (rand() - 0.5) * 0.1:.6f}", 5 + int(rand() * 60),
                ts(_between(rng, installed, NOW)),
            ))
            next_id += 1
        self.ids.next["location_pings"] = next_id

    # -- support, marketing, reviews -------------------------------------------

    def support(self, p: Person, rng: random.Random) -> None:
        ts, sentences = self.clock.ts, self.pools.sentences
        city = p.place[0]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            subject = rng.choice(P.TICKET_SUBJECTS)
            notes = (f"{p.first} {p.last} ({p.email}) asked: {subject.lower()} Callback on "
                     f"{p.phone}; ships to {p.street}, {city}. {rng.choice(sentences)}")
            self.add("support_tickets", (
                self.ids.take("support_tickets"), p.id, rng.choice(P.CHANNELS), subject, notes,
                ts(_between(rng, p.created, NOW)),
            ))
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            product = rng.choice(P.CATALOG)[1]
            summary = (f"{p.first} {p.last} called about the {product}; call back on {p.phone}. "
                       f"{rng.choice(sentences)}")
            self.add("call_records", (
                self.ids.take("call_records"), p.phone, rng.choice(P.AGENTS), summary,
                ts(_between(rng, p.created, NOW)),
            ))
        for _ in range(rng.choice((0, 1, 1, 2))):
            self.registration(p, rng)

    def registration(self, p: Person, rng: random.Random) -> None:
        bought = _between(rng, p.created, NOW - DAY)
        registered = min(bought + _between(rng, 0, 30 * DAY), NOW)
        self.add("product_registrations", (
            self.ids.take("product_registrations"), p.id, rng.choice(P.REGISTRABLE)[1],
            f"RA{rng.getrandbits(40):010X}", self.clock.date(bought), self.clock.ts(registered),
        ))

    def engagement(self, p: Person, rng: random.Random) -> None:
        ts = self.clock.ts
        email, post, call, sms = (rng.random() < x for x in (0.45, 0.2, 0.1, 0.15))
        self.add("marketing_preferences", (
            self.ids.take("marketing_preferences"), p.id, email, post, call, sms,
            ts(_between(rng, p.created, NOW)),
        ))
        if rng.random() < 0.2:
            self.contest_entry(rng, p.email, p.id, _between(rng, p.created, NOW))
        for _ in range(rng.choice((0, 0, 0, 1, 1))):
            answers = json.dumps({"satisfaction": rng.randrange(1, 6),
                                  "would_recommend": rng.random() < 0.7,
                                  "comment": rng.choice(self.pools.sentences)})
            self.add("survey_responses", (
                self.ids.take("survey_responses"), p.id, rng.choice(P.SURVEYS), answers,
                ts(_between(rng, p.created, NOW)),
            ))
        if rng.random() < 0.3:
            for _ in range(rng.randrange(1, 3)):
                self.review(p, rng)

    def review(self, p: Person, rng: random.Random) -> None:
        rating = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
        self.add("reviews", (
            self.ids.take("reviews"), p.id, rng.choice(P.CATALOG)[1], rating,
            rng.choice(P.REVIEW_TITLES), rng.choice(self.pools.sentences),
            self.clock.ts(_between(rng, p.created, NOW)),
        ))

    def contest_entry(self, rng: random.Random, email: str, customer: int | None, at: int) -> None:
        self.add("contest_entries", (
            self.ids.take("contest_entries"), email, customer, rng.choice(P.CONTESTS),
            rng.choice(self.pools.sentences), rng.random() < 0.5, self.clock.ts(at),
        ))

    # -- people who are not customers ------------------------------------------

    def entrant(self, k: int) -> None:
        rng = self.data.rng("entrant", k)
        email = self.data.entrant_email(k, rng)
        self.contest_entry(rng, email, None, _between(rng, NOW - 3 * YEAR, NOW))

    def caller(self, k: int) -> None:
        rng = self.data.rng("caller", k)
        number = self.data.caller_phone(k)
        for _ in range(rng.randrange(1, 3)):
            summary = f"Caller asked about {rng.choice(P.CATALOG)[1]} availability; no account."
            self.add("call_records", (
                self.ids.take("call_records"), number, rng.choice(P.AGENTS), summary,
                self.clock.ts(_between(rng, NOW - 3 * YEAR, NOW)),
            ))
