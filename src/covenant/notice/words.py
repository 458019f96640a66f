"""Plain words for the declaration's keys: categories, recipient types, places, dates.

fideslang names its categories for engineers ("User Contact Email"); a privacy
statement must speak to the person reading it ("e-mail address"). This module
owns that vocabulary and the small grammar helpers (joining lists, dates). It
never decides what the statement says, only how a key reads. Pure code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from covenant.declaration.taxonomy import Taxonomy

CATEGORY_WORDS: dict[str, str] = {
    "user": "all kinds of personal information",
    "user.account": "account details",
    "user.account.settings": "account settings",
    "user.account.username": "user name",
    "user.authorization": "sign-in credentials",
    "user.authorization.credentials": "sign-in credentials",
    "user.authorization.biometric": "biometric sign-in credentials",
    "user.authorization.password": "password",
    "user.behavior": "what you do on our services",
    "user.behavior.browsing_history": "pages you visit",
    "user.behavior.media_consumption": "what you watch or listen to",
    "user.behavior.purchase_history": "purchase history",
    "user.behavior.search_history": "searches",
    "user.biometric": "biometric information",
    "user.biometric.fingerprint": "fingerprints",
    "user.biometric.retinal": "retina scans",
    "user.biometric.voice": "voice recordings",
    "user.biometric.health": "biometric health data",
    "user.childrens": "information about children",
    "user.contact": "contact details",
    "user.contact.address": "postal address",
    "user.contact.address.city": "city",
    "user.contact.address.country": "country",
    "user.contact.address.postal_code": "postal code",
    "user.contact.address.state": "state or region",
    "user.contact.address.street": "street address",
    "user.contact.email": "e-mail address",
    "user.contact.phone_number": "phone number",
    "user.contact.url": "website or profile links",
    "user.contact.fax_number": "fax number",
    "user.contact.organization": "organization",
    "user.content": "content you give us",
    "user.content.private": "messages, answers and notes about your requests",
    "user.content.public": "reviews and other content you publish",
    "user.content.self_image": "photos of you",
    "user.demographic": "demographic information",
    "user.demographic.age_range": "age range",
    "user.demographic.date_of_birth": "date of birth",
    "user.demographic.gender": "gender",
    "user.demographic.language": "language",
    "user.demographic.marital_status": "marital status",
    "user.demographic.political_opinion": "political opinions",
    "user.demographic.profile": "interests and preferences",
    "user.demographic.race_ethnicity": "race or ethnicity",
    "user.demographic.religious_belief": "religious beliefs",
    "user.demographic.sexual_orientation": "sexual orientation",
    "user.device": "device information",
    "user.device.cookie": "cookie contents",
    "user.device.cookie_id": "cookie identifiers",
    "user.device.device_id": "device identifiers and serial numbers",
    "user.device.ip_address": "IP address",
    "user.financial": "financial information",
    "user.financial.bank_account": "bank account details",
    "user.financial.credit_card": "payment card details",
    "user.government_id": "government ID details",
    "user.government_id.birth_certificate": "birth certificate",
    "user.government_id.drivers_license_number": "driver's license number",
    "user.government_id.immigration": "immigration or residency ID",
    "user.government_id.national_identification_number": "national ID number",
    "user.government_id.passport_number": "passport number",
    "user.government_id.vehicle_registration": "vehicle registration",
    "user.health_and_medical": "health information",
    "user.health_and_medical.genetic": "genetic data",
    "user.health_and_medical.insurance_beneficiary_id": "health insurance number",
    "user.health_and_medical.record_id": "medical record number",
    "user.location": "location",
    "user.location.imprecise": "approximate location",
    "user.location.precise": "precise location",
    "user.name": "name",
    "user.name.first": "first name",
    "user.name.last": "last name",
    "user.payment": "payment information",
    "user.privacy_preferences": "your privacy and marketing choices",
    "user.unique_id": "customer and order numbers",
    "user.unique_id.pseudonymous": "pseudonymous identifiers",
    "user.telemetry": "device measurements",
    "user.sensor": "sensor data",
    "user.user_sensor": "sensor data about your surroundings",
    "user.workplace": "employer",
    "user.job_title": "job title",
    "user.social": "social media activity",
    "user.criminal_history": "criminal history",
}

# Parts of one thing are shown as the thing: "street, city, postal code" is an address.
COLLAPSE = ("user.contact.address", "user.name")

RECIPIENT_TYPES: dict[str, tuple[str, str]] = {
    # type: (plural heading, what the type means)
    "service_provider": (
        "Service providers",
        "Companies that work for us under contract. They may use your information only "
        "to provide their service to us.",
    ),
    "contractor": (
        "Contractors",
        "People and companies we hire to do part of our work, such as answering calls. "
        "Their contract forbids any other use of your information.",
    ),
    "carrier": ("Carriers", "Delivery companies. They use your address only to deliver."),
    "affiliate": (
        "Our affiliates",
        "Companies under common ownership or control with us.",
    ),
    "third_party": (
        "Third parties",
        "Independent companies that use the information for their own purposes, "
        "under their own privacy statements.",
    ),
    "authority": (
        "Authorities",
        "Courts, regulators, tax and law-enforcement authorities, when the law requires it.",
    ),
}

RECIPIENT_TYPE_SINGULAR: dict[str, str] = {
    "service_provider": "service provider",
    "contractor": "contractor",
    "carrier": "carrier",
    "affiliate": "affiliate",
    "third_party": "third party",
    "authority": "authority",
}

PLACES: dict[str, str] = {
    "US": "the United States",
    "EU": "the European Union",
    "EEA": "the European Economic Area",
    "IN": "India",
    "UK": "the United Kingdom",
    "GB": "the United Kingdom",
    "CA": "Canada",
    "CN": "China",
    "JP": "Japan",
    "DE": "Germany",
    "FR": "France",
    "NL": "the Netherlands",
    "IE": "Ireland",
    "SE": "Sweden",
    "DK": "Denmark",
    "AU": "Australia",
    "SG": "Singapore",
}

TRACKER_CATEGORIES: dict[str, str] = {
    "strictly_necessary": "Strictly necessary",
    "functional": "Functional",
    "analytics": "Analytics",
    "advertising": "Advertising",
}


def category(key: str, taxonomy: Taxonomy) -> str:
    """The plain name of a data category; extensions use their declared name."""
    if key in CATEGORY_WORDS:
        return CATEGORY_WORDS[key]
    term = taxonomy.categories.get(key)
    return lower_first(term.name) if term else key


def shown_category(key: str) -> str:
    """The category a person is shown: parts of an address or a name become the whole."""
    for whole in COLLAPSE:
        if key.startswith(whole + "."):
            return whole
    return key


def place(code: str) -> str:
    return PLACES.get(code.upper(), code)


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (``IP address``)."""
    if len(text) > 1 and text[:2].isupper():
        return text
    return text[:1].lower() + text[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(items: Iterable[str], last: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    seq = list(items)
    if len(seq) <= 1:
        return "".join(seq)
    return ", ".join(seq[:-1]) + f" {last} " + seq[-1]


def date(value: dt.date) -> str:
    """A date as people read it in the United States: ``January 15, 2026``."""
    return f"{value.strftime('%B')} {value.day}, {value.year}"


def duration(text: str) -> str:
    """``7 years`` stays; ``1 years`` becomes ``1 year``."""
    number, unit = text.split()
    unit = unit.rstrip("s")
    return f"{number} {unit}{'' if number == '1' else 's'}"


def humanize(name: str) -> str:
    """``order_items`` becomes ``Order items``."""
    return upper_first(name.replace("_", " "))
