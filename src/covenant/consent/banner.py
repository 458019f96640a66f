"""The consent banner's configuration, generated from the declaration.

Owns what the banner (``static/consent.js``) shows and how it behaves: its
categories (the declared trackers grouped by category, "strictly necessary"
always on), every text in plain language, the opt-in or opt-out mode of each
jurisdiction, the statement it points to, what the Global Privacy Control and
Do Not Track signals switch off, and the serialization of all that into the
served script. Pure: the caller reads the published statement versions and the
request headers; nothing here does I/O, and nothing here decides a consent
question (:mod:`covenant.consent.decisions` does, and the banner follows the
same rules through :class:`~covenant.consent.decisions.Policy`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from covenant.consent.decisions import Nature, Policy, opt_out_regime
from covenant.consent.records import TRACKER_CATEGORIES, Topic
from covenant.consent.signals import NO_SIGNALS, Signals
from covenant.declaration import Loaded
from covenant.declaration.model import Declaration, Tracker
from covenant.notice.versions import Version, latest_material

Mode = Literal["opt-in", "opt-out"]

API_PATH = "/api/v1/consent"
STYLESHEET_PATH = "/consent.css"
STATEMENT_PATH = "/privacy/statement"
COOKIE_NAME = "covenant_consent"
COOKIE_DAYS = 180
"""Six months: how long a choice is remembered before the banner asks again. The
CNIL's guidance on cookies (délibération 2020-091, §50) recommends asking again
after six months, for a refusal as for a consent."""

PLACEHOLDER = "/*COVENANT_CONFIG*/null"
"""Where the served script receives its configuration (``static/consent.js``)."""

KNOWN_JURISDICTIONS = ("eu", "uk", "us", "us-ca", "ca", "in")
"""The jurisdictions a declaration may name; every one gets a mode in the config."""

# ISO 3166-1 alpha-2 codes of the EU and the rest of the EEA, where the ePrivacy
# Directive Art. 5(3) and the GDPR apply through the EEA Agreement.
EEA = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)
_COUNTRY = {"GB": "uk", "US": "us", "CA": "ca", "IN": "in"}

LABELS = {
    "strictly_necessary": "Necessary",
    "functional": "Preferences",
    "analytics": "Analytics",
    "advertising": "Advertising",
}
SUMMARIES = {
    "strictly_necessary": (
        "Needed for the site to work, and to remember these choices. Always on: the site "
        "cannot work without them."
    ),
    "functional": "Remember your settings, such as your country and language.",
    "analytics": "Count visits and pages seen, so we can see how the site is used and improve it.",
    "advertising": (
        "Let advertising companies recognize you on other sites and show you our ads there, "
        "based on what you look at here."
    ),
}


@dataclass(frozen=True, slots=True)
class TrackerText:
    name: str
    vendor: str
    purpose: str
    lifetime: str
    opt_out_url: str | None


@dataclass(frozen=True, slots=True)
class Category:
    """One switch in the banner: a tracker category and the trackers in it."""

    key: str
    """The tracker category, also the ``data-category`` value of tagged scripts."""
    label: str
    description: str
    required: bool
    """Strictly necessary: always on, shown but not switchable (ePrivacy Art. 5(3))."""
    gpc: bool
    """Switched off by a Global Privacy Control signal: sale, sharing, targeted advertising."""
    dnt: bool
    """Switched off by Do Not Track, when the declaration says DNT is honoured."""
    trackers: tuple[TrackerText, ...]


@dataclass(frozen=True, slots=True)
class Texts:
    title: str
    intro_opt_in: str
    intro_opt_out: str
    accept: str
    reject: str
    choose: str
    save: str
    close: str
    choices_legend: str
    always_on: str
    trackers_heading: str
    kept_for: str
    vendor_opt_out: str
    statement_link: str
    saved: str
    ok: str
    gpc_honoured: str
    gpc_locked: str
    dnt_honoured: str
    dnt_not_honoured: str
    dnt_locked: str


@dataclass(frozen=True, slots=True)
class StatementRef:
    url: str
    version: str
    """What consent records cite as ``notice_version``."""
    material_version: str
    """The version of the latest material change: a choice made before it is asked again."""


@dataclass(frozen=True, slots=True)
class BannerSignals:
    """The request's signals as the server parsed them, so the script honours the header too."""

    gpc: bool
    dnt: bool


@dataclass(frozen=True, slots=True)
class BannerConfig:
    organization: str
    statement: StatementRef
    api: str
    stylesheet: str
    cookie: dict[str, str | int]
    jurisdiction: str
    """The jurisdiction when the page names none (``data-jurisdiction``)."""
    modes: dict[str, Mode]
    categories: tuple[Category, ...]
    sale_purposes: tuple[str, ...]
    """Purposes denied with the ``gpc`` categories: the banner opts out of sale and sharing
    by refusing them, and never opts anyone in to them."""
    dnt_purposes: tuple[str, ...]
    """Purposes denied by an honoured DNT (empty when the declaration does not honour it)."""
    dnt_honoured: bool
    signals: BannerSignals
    texts: Texts


def mode(jurisdiction: str) -> Mode:
    """Opt-out where :func:`~covenant.consent.decisions.opt_out_regime` says US law applies,
    opt-in elsewhere (GDPR Art. 6(1)(a), ePrivacy Art. 5(3)): the same rule the decisions use,
    so the banner never shows a default the API would contradict."""
    return "opt-out" if opt_out_regime(jurisdiction) else "opt-in"


def default_jurisdiction(declared: Sequence[str]) -> str:
    """For a visitor whose place is unknown: the first declared opt-in jurisdiction if any,
    else the first declared one. Assuming opt-out for an EU visitor would set trackers
    without consent; assuming opt-in for a US visitor only asks first."""
    return next((j for j in declared if mode(j) == "opt-in"), declared[0])


def jurisdiction_for(country: str | None, declared: Sequence[str]) -> str:
    """The jurisdiction of an ISO 3166-1 alpha-2 ``country`` (e.g. a CDN's ``CF-IPCountry``),
    or :func:`default_jurisdiction` when it is absent, malformed or not one we know."""
    code = (country or "").strip().upper()
    if code in EEA:
        return "eu"
    return _COUNTRY.get(code) or default_jurisdiction(declared)


def statement_ref(declaration: Declaration, versions: Sequence[Version]) -> StatementRef:
    """The statement the banner links to and cites: the latest published version's number,
    or the declaration's effective date while none is published."""
    org = declaration.organization
    url = org.statement_url or STATEMENT_PATH
    if not versions:
        date = org.effective_date.isoformat()
        return StatementRef(url, date, date)
    ordered = sorted(versions, key=lambda v: v.number)
    latest = ordered[-1]
    material = latest_material(ordered) or latest
    return StatementRef(url, str(latest.number), str(material.number))


def banner_config(
    loaded: Loaded,
    *,
    statement: StatementRef,
    signals: Signals = NO_SIGNALS,
    country: str | None = None,
) -> BannerConfig:
    """The banner for this declaration and this request's signals and country."""
    declaration = loaded.declaration
    org = declaration.organization
    policy = Policy.from_declaration(declaration)
    dnt_honoured = org.dnt == "honoured"
    sale = _purposes(declaration, policy, {Nature.SALE_OR_SHARING})
    jurisdictions = dict.fromkeys([*org.jurisdictions, *KNOWN_JURISDICTIONS])
    return BannerConfig(
        organization=org.name,
        statement=statement,
        api=API_PATH,
        stylesheet=STYLESHEET_PATH,
        cookie={"name": COOKIE_NAME, "max_age_days": COOKIE_DAYS},
        jurisdiction=jurisdiction_for(country, org.jurisdictions),
        modes={j: mode(j) for j in jurisdictions},
        categories=categories(declaration, policy, sale_names=_names(declaration, sale)),
        sale_purposes=sale,
        dnt_purposes=(
            _purposes(declaration, policy, {Nature.ANALYTICS, Nature.SALE_OR_SHARING})
            if dnt_honoured
            else ()
        ),
        dnt_honoured=dnt_honoured,
        signals=BannerSignals(gpc=signals.gpc, dnt=signals.dnt is True),
        texts=texts(declaration),
    )


def categories(
    declaration: Declaration, policy: Policy, *, sale_names: Sequence[str] = ()
) -> tuple[Category, ...]:
    """The "necessary" category first and always, then each one with a declared tracker."""
    dnt_honoured = declaration.organization.dnt == "honoured"
    found: list[Category] = []
    for key in TRACKER_CATEGORIES:
        declared = [t for t in declaration.trackers if t.category == key]
        required = key == "strictly_necessary"
        if not declared and not required:
            continue
        nature = policy.nature(Topic("category", key))
        trackers = [_tracker(t) for t in declared]
        if required:
            trackers.append(_own_cookie(declaration.organization.name))
        description = SUMMARIES[key]
        if nature is Nature.SALE_OR_SHARING and sale_names:
            description += (
                " Saying no also opts you out of these uses of your personal information: "
                f"{'; '.join(sale_names)}."
            )
        found.append(
            Category(
                key=key,
                label=LABELS[key],
                description=description,
                required=required,
                gpc=nature is Nature.SALE_OR_SHARING,
                dnt=dnt_honoured and nature in (Nature.ANALYTICS, Nature.SALE_OR_SHARING),
                trackers=tuple(trackers),
            )
        )
    return tuple(found)


def texts(declaration: Declaration) -> Texts:
    org = declaration.organization
    sells_or_shares = org.sells_personal_information or org.shares_personal_information
    opt_out_extra = (
        " Turning off advertising opts you out of the sale or sharing of your personal "
        "information (California Consumer Privacy Act)."
        if sells_or_shares
        else ""
    )
    return Texts(
        title=f"Your privacy choices at {org.name}",
        intro_opt_in=(
            f"{org.name} uses cookies and similar technologies. The necessary ones keep the "
            "site working. The others stay off unless you turn them on. You can change your "
            "mind at any time, and saying no is as easy as saying yes."
        ),
        intro_opt_out=(
            f"{org.name} uses cookies and similar technologies. The necessary ones keep the "
            "site working. The others are on unless you turn them off, which you can do now "
            f"or at any time.{opt_out_extra}"
        ),
        accept="Accept all",
        reject="Reject all",
        choose="Choose",
        save="Save choices",
        close="Close",
        choices_legend="Choose what to allow",
        always_on="Always on",
        trackers_heading="What we use",
        kept_for="Kept for",
        vendor_opt_out="opt-out page",
        statement_link="Read our privacy statement",
        saved="Your choices are saved.",
        ok="OK",
        gpc_honoured=(
            "Your browser's Global Privacy Control signal was honoured: we won't sell or share "
            "your personal information, or use it for targeted advertising."
        ),
        gpc_locked="Off, as your browser's Global Privacy Control signal asks.",
        dnt_honoured=(
            "Your browser's Do Not Track signal was honoured: analytics and advertising stay off."
        ),
        # Seeds P22, H20: the statement says DNT is not honoured; the banner must not imply it is.
        dnt_not_honoured=(
            "Your browser sends a Do Not Track signal. This site does not change what it does "
            "when it receives one, as our privacy statement explains. Use the choices here, or "
            "Global Privacy Control, instead."
        ),
        dnt_locked="Off, as your browser's Do Not Track signal asks.",
    )


def to_json(config: BannerConfig) -> str:
    """The configuration as JSON that is safe inside a JavaScript file.

    ASCII only, so U+2028 and U+2029 arrive escaped; ``<``, ``>`` and ``&`` escaped as
    well, so declaration text such as ``</script>`` stays text wherever the script ends up.
    """
    text = json.dumps(asdict(config), ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_script(template: str, config: BannerConfig) -> str:
    """The served script: ``template`` with the configuration put in at :data:`PLACEHOLDER`."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"the banner script must hold {PLACEHOLDER} exactly once")
    return template.replace(PLACEHOLDER, to_json(config))


def _tracker(tracker: Tracker) -> TrackerText:
    return TrackerText(
        name=tracker.name,
        vendor=tracker.vendor,
        purpose=tracker.purpose,
        lifetime=tracker.lifetime,
        opt_out_url=tracker.opt_out_url,
    )


def _own_cookie(organization: str) -> TrackerText:
    """The banner's own cookie, disclosed like any other (it is strictly necessary:
    remembering a privacy choice is a service the person asked for)."""
    return TrackerText(
        name="Privacy choices cookie",
        vendor=organization,
        purpose="Remembers the choices you make here, with a random ID that ties them to "
        "our record of your consent.",
        lifetime=f"{COOKIE_DAYS} days",
        opt_out_url=None,
    )


def _purposes(declaration: Declaration, policy: Policy, natures: set[Nature]) -> tuple[str, ...]:
    return tuple(
        p.key for p in declaration.purposes if policy.nature(Topic("purpose", p.key)) in natures
    )


def _names(declaration: Declaration, keys: Sequence[str]) -> list[str]:
    names = {p.key: p.name for p in declaration.purposes}
    return [names[k] for k in keys]
