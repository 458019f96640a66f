"""The data-flow diagram: systems on the left, recipients on the right, and what flows.

A line joins a system to a recipient when the recipient receives a category
the system holds; the recipient's box lists those categories per system.
Categories a recipient receives that no system holds (a card number typed
into the payment processor's form) come "directly from you". The SVG is
self-contained, titled and described for screen readers, and deterministic.
Pure: returns text.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from covenant.declaration import Loaded
from covenant.notice import words
from covenant.notice.facts import Facts, overlaps

WIDTH = 1000
BOX_W = 360
LEFT_X = 20
RIGHT_X = WIDTH - BOX_W - 20
LINE_H = 16
PAD = 10
GAP = 16
WRAP = 48
DIRECT = "__direct__"


@dataclass
class Box:
    key: str
    x: int
    lines: list[tuple[str, str]]
    """(text, css class)."""
    y: int = 0
    inbound: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return PAD * 2 + LINE_H * len(self.lines)

    @property
    def middle(self) -> int:
        return self.y + self.height // 2


def svg(loaded: Loaded) -> str:
    facts = Facts(loaded)
    held = _held(facts)
    flows = _flows(facts, held)
    left = [_system_box(facts, key, cats) for key, cats in held.items() if cats]
    if any(src == DIRECT for pairs in flows.values() for src, _ in pairs):
        left.append(
            Box(
                DIRECT,
                LEFT_X,
                [
                    ("Not held in a declared system", "name"),
                    *_wrapped(
                        "received from you, events or partners and passed on directly", "meta"
                    ),
                ],
            )
        )
    right = [_recipient_box(facts, r_key, pairs) for r_key, pairs in flows.items()]
    height = max(_stack(left), _stack(right)) + 60
    by_key = {b.key: b for b in left}
    edges = [(by_key[src], box) for box in right for src in box.inbound if src in by_key]
    org = facts.declaration.organization
    title = f"Where {org.name}'s personal data goes"
    desc = f"{len(left)} sources on the left, {len(right)} recipients on the right. " + " ".join(
        f"{_plain(b)} receives from {', '.join(_plain(by_key[s]) for s in b.inbound if s in by_key)}."
        for b in right
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="title desc">',
        f'<title id="title">{escape(title)}</title>',
        f'<desc id="desc">{escape(desc)}</desc>',
        "<style>"
        "text{font:13px system-ui,sans-serif;fill:#1b1b1b}"
        ".name{font-weight:600}.meta{fill:#4a4a4a}.head{font-size:15px;font-weight:600}"
        "rect{fill:#f6f8fb;stroke:#44546a;stroke-width:1.2}"
        "path{fill:none;stroke:#0b4dad;stroke-width:1.4;marker-end:url(#arrow)}"
        "</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
        'style="fill:#0b4dad;stroke:none"/></marker></defs>',
        f'<text class="head" x="{LEFT_X}" y="24">Systems</text>',
        f'<text class="head" x="{RIGHT_X}" y="24">Recipients</text>',
    ]
    for a, b in edges:
        x1, x2 = a.x + BOX_W, b.x
        mid = (x1 + x2) // 2
        parts.append(
            f'<path d="M{x1},{a.middle} C{mid},{a.middle} {mid},{b.middle} {x2},{b.middle}"/>'
        )
    for box in left + right:
        parts += _draw(box)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _held(facts: Facts) -> dict[str, set[str]]:
    """System key -> the personal categories its collections carry."""
    out: dict[str, set[str]] = {s.key: set() for s in facts.declaration.systems}
    for key, cats in facts.collected.items():
        system = facts.catalog.collections[key].system
        if system in out:
            out[system] |= set(cats)
    return out


def _flows(facts: Facts, held: dict[str, set[str]]) -> dict[str, list[tuple[str, set[str]]]]:
    """Recipient key -> [(system key or DIRECT, categories flowing)], in declaration order."""
    out: dict[str, list[tuple[str, set[str]]]] = {}
    for r in facts.declaration.recipients:
        got = facts.received(r)
        pairs = []
        for system, cats in held.items():
            flowing = {c for c in got if any(overlaps(c, h) for h in cats)}
            if flowing:
                pairs.append((system, flowing))
        direct = {c for c in got if not any(c in f for _, f in pairs)}
        if direct:
            pairs.append((DIRECT, direct))
        out[r.key] = pairs
    return out


def _system_box(facts: Facts, key: str, cats: set[str]) -> Box:
    system = next(s for s in facts.declaration.systems if s.key == key)
    lines = [(system.name, "name")]
    lines += _wrapped("in " + words.join(words.place(p) for p in system.locations), "meta")
    groups = sorted({facts.label(facts.taxonomy.top_level(c)) for c in cats}, key=str.lower)
    lines += _wrapped("holds: " + ", ".join(groups))
    return Box(key, LEFT_X, lines)


def _recipient_box(facts: Facts, key: str, pairs: list[tuple[str, set[str]]]) -> Box:
    r = next(x for x in facts.declaration.recipients if x.key == key)
    kind = words.RECIPIENT_TYPE_SINGULAR[r.type]
    places = words.join(words.place(p) for p in r.locations)
    lines = [(r.name, "name"), *_wrapped(f"{kind}, in {places}", "meta")]
    names = {s.key: s.name for s in facts.declaration.systems} | {DIRECT: "outside our systems"}
    for source, cats in pairs:
        lines += _wrapped(f"from {names[source]}: " + ", ".join(facts.labels(cats)))
    if r.sale or r.share:
        lines.append(("sold" if r.sale else "shared for cross-context advertising", "meta"))
    return Box(key, RIGHT_X, lines, inbound=[s for s, _ in pairs])


def _wrapped(text: str, css: str = "") -> list[tuple[str, str]]:
    return [(t, css) for t in textwrap.wrap(text, WRAP)]


def _stack(boxes: list[Box]) -> int:
    y = 40
    for box in boxes:
        box.y = y
        y += box.height + GAP
    return y


def _plain(box: Box) -> str:
    return box.lines[0][0]


def _draw(box: Box) -> list[str]:
    out = [f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{box.height}" rx="6"/>']
    for i, (text, css) in enumerate(box.lines):
        y = box.y + PAD + LINE_H * (i + 1) - 4
        cls = f" class={quoteattr(css)}" if css else ""
        out.append(f'<text x="{box.x + PAD}" y="{y}"{cls}>{escape(text)}</text>')
    return out
