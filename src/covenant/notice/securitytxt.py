"""security.txt (RFC 9116), written from the declaration.

Keeps seed S3: vulnerability reports go to a named contact, with a PGP key on
offer. Fields, by RFC 9116 section: Contact (§2.5.3, required, one per line,
a ``mailto:`` or ``https:`` URI), Expires (§2.5.5, required, once, an RFC 3339
date-time; recommended less than a year ahead), Encryption (§2.5.4, a URI to
the key, never plain ``http:``), Acknowledgments (§2.5.1), Preferred-Languages
(§2.5.8, RFC 5646 tags, once), Canonical (§2.5.2), Policy (§2.5.7) and Hiring
(§2.5.6). Served at ``/.well-known/security.txt`` as ``text/plain; charset=utf-8``
(§3). Pure: ``now`` is a parameter, so the output is reproducible. The file is
not signed (§2.3 recommends an OpenPGP cleartext signature; sign it when you
publish it, with the key named in Encryption).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from covenant.declaration import Loaded
from covenant.notice.errors import NoticeError

PATH = "/.well-known/security.txt"
MEDIA_TYPE = "text/plain; charset=utf-8"


def security_txt(loaded: Loaded, now: dt.datetime) -> str:
    d = loaded.declaration
    org, sec = d.organization, d.security
    contacts = []
    if org.contacts.security_email:
        contacts.append(f"mailto:{org.contacts.security_email}")
    if sec.report_url:
        contacts.append(_https(sec.report_url, "security.report_url"))
    if not contacts:
        raise NoticeError(
            "security.txt needs a contact (RFC 9116 §2.5.3): set "
            "organization.contacts.security_email or security.report_url"
        )
    expires = (now.astimezone(dt.UTC) + dt.timedelta(days=sec.expires_days)).replace(microsecond=0)
    lines = [
        f"# Security contact for {org.name} ({org.controller}).",
        "# Written by Covenant from covenant.yml (RFC 9116).",
        *[f"Contact: {c}" for c in contacts],
        f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}",
    ]
    key = org.contacts.security_pgp_key
    if key:
        lines.append(f"Encryption: {_key_uri(key)}")
    if sec.acknowledgments_url:
        lines.append(f"Acknowledgments: {_https(sec.acknowledgments_url, 'acknowledgments_url')}")
    if sec.languages:
        lines.append("Preferred-Languages: " + ", ".join(sec.languages))
    canonical = sec.canonical_url or _derived_canonical(org.statement_url)
    if canonical:
        lines.append(f"Canonical: {_https(canonical, 'security.canonical_url')}")
    if sec.policy_url:
        lines.append(f"Policy: {_https(sec.policy_url, 'security.policy_url')}")
    if sec.hiring_url:
        lines.append(f"Hiring: {_https(sec.hiring_url, 'security.hiring_url')}")
    return "\n".join(lines) + "\n"


def _derived_canonical(statement_url: str | None) -> str | None:
    if not statement_url:
        return None
    parts = urlsplit(statement_url)
    if parts.scheme != "https" or not parts.netloc:
        return None
    return f"https://{parts.netloc}{PATH}"


def _https(url: str, key: str) -> str:
    # RFC 9116 requires https for every web URI it names (§2.5.2, §2.5.3, §2.5.4...).
    if not url.startswith("https://"):
        raise NoticeError(f"{key} must be an https:// URL for security.txt (RFC 9116): {url}")
    return url


def _key_uri(key: str) -> str:
    if key.startswith(("https://", "openpgp4fpr:", "dns:")):
        return key
    raise NoticeError(
        "organization.contacts.security_pgp_key must be a URI for security.txt "
        "(RFC 9116 §2.5.4): https://..., openpgp4fpr:FINGERPRINT or dns:..."
    )
