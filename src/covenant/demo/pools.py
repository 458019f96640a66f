"""The raw material of demo rows: small pools of names, places and phrases, and the catalog.

Faker makes realistic values but takes tens of microseconds each, far too slow for
ten million rows; so it is run once per seed to fill pools of a few hundred values,
which the generator then combines with a seeded ``random.Random``. Owns only
values; no rows, no database.

Everything is fictional: e-mail domains are reserved ``.example`` names, IP
addresses come from the documentation ranges (RFC 5737, RFC 3849), and phone
numbers use the 555 exchange.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret
from faker import Faker

PASSWORD_POOL = 256

STORE = "https://resonance-audio.example"

# (sku, name, price in cents, registrable for warranty)
CATALOG: tuple[tuple[str, str, int, bool], ...] = (
    ("RA-SPK-100", "Resonance Pulse Portable Speaker", 9_999, True),
    ("RA-SPK-200", "Resonance Pulse Max Portable Speaker", 17_999, True),
    ("RA-SPK-300", "Resonance Atrium Home Speaker", 29_999, True),
    ("RA-SPK-400", "Resonance Atrium Studio Monitor (pair)", 59_999, True),
    ("RA-SBR-100", "Resonance Stage 5.1 Soundbar", 49_999, True),
    ("RA-SBR-200", "Resonance Stage Compact Soundbar", 24_999, True),
    ("RA-SUB-100", "Resonance Depth 10in Subwoofer", 39_999, True),
    ("RA-HPH-100", "Resonance Quiet ANC Headphones", 24_999, True),
    ("RA-HPH-200", "Resonance Quiet Lite Headphones", 12_999, True),
    ("RA-EAR-100", "Resonance Buds Pro Earbuds", 17_999, True),
    ("RA-EAR-200", "Resonance Buds Sport Earbuds", 8_999, True),
    ("RA-AMP-100", "Resonance Class-D Stereo Amplifier", 34_999, True),
    ("RA-CAR-100", "Resonance Road 6.5in Car Speakers", 14_999, True),
    ("RA-CAR-200", "Resonance Road 4-Channel Car Amplifier", 27_999, True),
    ("RA-ACC-100", "Speaker Wall Mount", 2_999, False),
    ("RA-ACC-200", "Braided USB-C Cable 2m", 1_499, False),
    ("RA-ACC-300", "Headphone Travel Case", 2_499, False),
    ("RA-ACC-400", "Replacement Ear Tips (3 sizes)", 999, False),
    ("RA-ACC-500", "Soundbar Remote Control", 1_999, False),
    ("RA-REF-100", "Refurbished Pulse Portable Speaker", 6_999, True),
)
REGISTRABLE = tuple(p for p in CATALOG if p[3])

# Every North American area code shape that is not an N11 service code; with the
# 555 exchange this gives 7.8 million distinct fictional numbers.
AREA_CODES = tuple(str(a) for a in range(201, 990) if a % 100 != 11)

COUNTRIES = ("US",) * 17 + ("DE", "FR", "NL")
EU_CITIES = {
    "DE": ("Berlin", "BE", "10115"),
    "FR": ("Lyon", "ARA", "69001"),
    "NL": ("Utrecht", "UT", "3511"),
}
DOMAINS = ("example.com", "example.net", "example.org", "mail.example")

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
USER_AGENTS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/131.0 Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) {_SAFARI} Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {_SAFARI} Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 15; Pixel 9) {_WEBKIT} Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) {_WEBKIT} Chrome/131.0 Safari/537.36 Edg/131.0",
)

CARD_BRANDS = ("visa", "visa", "visa", "mastercard", "mastercard", "amex", "discover")
ID_DOCUMENTS = ("drivers_license", "drivers_license", "state_id", "passport")
RETURN_REASONS = (
    "Sound is not what I expected.",
    "Bluetooth keeps dropping out.",
    "Arrived damaged.",
    "Ordered the wrong color.",
    "Found it cheaper elsewhere.",
    "Too big for my desk.",
    "Left earbud stopped charging.",
    "Gift that was not needed.",
)
TICKET_SUBJECTS = (
    "Where is my order?",
    "Speaker will not pair",
    "Firmware update failed",
    "Change my delivery address",
    "Warranty claim",
    "Missing item in package",
    "Refund not received",
    "Headphones crackle at high volume",
)
CHANNELS = ("email", "email", "chat", "phone", "web_form")
AGENTS = ("Priya N.", "Marcus T.", "Elena R.", "Sam K.", "Aisha B.", "Tomás G.", "Wen L.")
CONTESTS = ("Summer Soundwave Giveaway", "Holiday Headphones Sweepstakes", "Studio Monitor Raffle")
SURVEYS = ("post_purchase", "product_feedback", "support_satisfaction")
PLATFORMS = ("ios", "android", "android")
AFFILIATES = tuple(f"aff-{n:04d}" for n in (17, 42, 108, 256, 311, 512, 777, 1024))
VOICE_COMMANDS = (
    "play some jazz in the {room}",
    "turn the volume up in the {room}",
    "set bass to {n}",
    "pair my {product}",
    "what is playing in the {room}",
    "stop the music",
    "group the {room} and the kitchen speakers",
)
ROOMS = ("living room", "kitchen", "bedroom", "office", "garage", "den")
REVIEW_TITLES = (
    "Great sound for the price",
    "Bass is incredible",
    "Battery life as promised",
    "Good, not great",
    "Stopped working after a month",
    "Perfect for my apartment",
    "Comfortable for long flights",
)


@dataclass(frozen=True, slots=True)
class Pools:
    """Per-seed pools of fictional values, built once per generation."""

    names: tuple[tuple[str, str, str], ...]
    """(first, last, e-mail local part stem)."""
    streets: tuple[str, ...]
    places: tuple[tuple[str, str, str], ...]
    """(city, state, postal code) in the US."""
    sentences: tuple[str, ...]
    ips: tuple[str, ...]
    urls: tuple[str, ...]
    password_hashes: tuple[str, ...]


def build(seed: int) -> Pools:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(f"{seed}/pools")
    return Pools(
        names=tuple(_name(fake.first_name(), fake.last_name()) for _ in range(800)),
        streets=tuple(fake.street_address() for _ in range(2000)),
        places=tuple((fake.city(), fake.state_abbr(), fake.postcode()) for _ in range(600)),
        sentences=tuple(fake.sentence(nb_words=10) for _ in range(400)),
        ips=_ips(rng),
        urls=_urls(),
        password_hashes=password_hashes(rng),
    )


def _name(first: str, last: str) -> tuple[str, str, str]:
    stem = re.sub(r"[^a-z]", "", first.lower()) + "." + re.sub(r"[^a-z]", "", last.lower())
    return first, last, stem


def _ips(rng: random.Random) -> tuple[str, ...]:
    networks = ("192.0.2", "198.51.100", "203.0.113")
    v4 = [f"{net}.{host}" for net in networks for host in range(1, 255)]
    v6 = [f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}" for _ in range(800)]
    return tuple(v4 + v6)


def _urls() -> tuple[str, ...]:
    paths = ["/", "/speakers", "/headphones", "/soundbars", "/car-audio", "/sale", "/refurbished",
             "/cart", "/checkout", "/account", "/account/orders", "/support", "/support/returns",
             "/product-registration", "/search?q=bluetooth+speaker", "/search?q=noise+cancelling"]
    paths += [f"/p/{sku.lower()}" for sku, *_ in CATALOG]
    paths += [f"/p/{sku.lower()}/reviews" for sku, *_ in CATALOG[:10]]
    return tuple(STORE + p for p in paths)


def password_hashes(rng: random.Random) -> tuple[str, ...]:
    """Real argon2id hashes of random passwords, with cheap parameters.

    Hashing a password properly takes ~50 ms by design; at 100k customers that
    would be over an hour, so customers draw from a pool of hashes made here with
    the lowest cost argon2 allows in reasonable safety for throwaway passwords.
    Salts come from the seeded generator so the same seed gives the same hashes.
    """
    out = []
    for _ in range(PASSWORD_POOL):
        secret = rng.getrandbits(96).to_bytes(12, "big").hex().encode()
        salt = rng.getrandbits(128).to_bytes(16, "big")
        digest = hash_secret(secret, salt, time_cost=1, memory_cost=1024, parallelism=1,
                             hash_len=32, type=Type.ID)
        out.append(digest.decode("ascii"))
    return tuple(out)
