"""The demo store's tables: an audio-electronics web shop, as SQLAlchemy Core metadata.

Owns the table definitions and, on each column, what the Fides dataset says about
it: its data categories, its identity type, a description (``Column.info``). The
dataset file is generated from this metadata, so the schema and the declaration
cannot drift apart. Never touches a database.

Types are chosen to behave alike on SQLite, PostgreSQL and MariaDB: ``String`` with
a length everywhere (MariaDB needs one), ``DateTime`` without a time zone (every
timestamp is UTC), ``Numeric`` read back as ``float`` (SQLite has no decimal type).
Every identity column and every referencing column is indexed, so finding one
person's rows is an index seek, never a scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

DATASET = "shop"
"""The fides_key of the one dataset that describes these tables."""

HASHED = 64
"""Width of a column erased by keyed hash: the hex digest is 64 characters."""

# SQLite only aliases the rowid (fast, auto-numbered) for a column typed exactly
# INTEGER PRIMARY KEY; BIGINT would make a second, slower key.
Id: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ColumnType = TypeEngine[Any] | type[TypeEngine[Any]]

OPERATIONS = "system.operations"
UNIQUE_ID = "user.unique_id"


def key(description: str, category: str = OPERATIONS) -> Column[Any]:
    """The primary key ``id``."""
    return Column(
        "id", Id, primary_key=True, autoincrement=True,
        info={"categories": (category,), "description": description},
    )


def field(
    name: str,
    type_: ColumnType,
    category: str,
    description: str,
    *,
    nullable: bool = False,
    identity: str | None = None,
    unique: bool = False,
) -> Column[Any]:
    """A column with its data category; identity and unique columns are indexed."""
    info: dict[str, Any] = {"categories": (category,), "description": description}
    if identity:
        info["identity"] = identity
    # index=True with unique=True makes a unique index, not a constraint: the bulk
    # loader builds every index after the rows are in, which is much faster.
    return Column(
        name, type_, nullable=nullable, index=bool(identity) or unique, unique=unique, info=info
    )


def link(
    name: str,
    target: str,
    category: str,
    description: str,
    *,
    nullable: bool = False,
    type_: ColumnType = Id,
    ondelete: str | None = None,
    unique: bool = False,
) -> Column[Any]:
    """A referencing column: a real foreign key, always indexed."""
    return Column(
        name, type_, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True,
        unique=unique, info={"categories": (category,), "description": description},
    )


def table(name: str, description: str, *columns: Column[Any]) -> Table:
    return Table(name, metadata, *columns, info={"description": description})


customers = table(
    "customers", "Store accounts: who can sign in and buy.",
    key("Customer number, shown on orders and in e-mails.", UNIQUE_ID),
    field("email", String(320), "user.contact.email", "Sign-in e-mail, stored lowercase.",
          nullable=True, identity="email", unique=True),
    field("phone", String(20), "user.contact.phone_number", "Phone in E.164 form.",
          nullable=True, identity="phone"),
    field("first_name", String(100), "user.name.first", "Given name.", nullable=True),
    field("last_name", String(100), "user.name.last", "Family name.", nullable=True),
    field("password_hash", String(200), "user.authorization.password",
          "argon2id hash of the password; never the password.", nullable=True),
    field("date_of_birth", Date, "user.demographic.date_of_birth",
          "Asked to check the minimum age.", nullable=True),
    field("created_at", DateTime, "user.account", "When the account was opened."),
)

addresses = table(
    "addresses", "Shipping and billing addresses from the address book.",
    key("Address number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The customer whose address this is."),
    field("street", String(200), "user.contact.address.street", "Street and number."),
    field("city", String(100), "user.contact.address.city", "City."),
    field("state", String(50), "user.contact.address.state", "State or region."),
    field("postal_code", String(20), "user.contact.address.postal_code", "Postal code."),
    field("country", String(2), "user.contact.address.country", "ISO 3166 country code."),
    field("phone", String(20), "user.contact.phone_number", "Delivery phone.", nullable=True),
)

orders = table(
    "orders", "Orders placed on the web store; tax records.",
    key("Order number, shown to the customer.", UNIQUE_ID),
    link("customer_id", "customers.id", UNIQUE_ID, "The customer who placed the order."),
    field("placed_at", DateTime, "user.behavior.purchase_history", "When the order was placed."),
    field("total_cents", Integer, "user.behavior.purchase_history", "Order total, in cents."),
    field("currency", String(3), OPERATIONS, "ISO 4217 currency code."),
    field("ip_address", String(45), "user.device.ip_address", "IP address the order came from."),
    # SET NULL: an address may be erased while the order itself is held for tax.
    link("shipping_address_id", "addresses.id", UNIQUE_ID, "Where the order was shipped.",
         nullable=True, ondelete="SET NULL"),
)

# order_items, payments and page_views repeat their parent's retention anchor
# (placed_at, started_at): a retention hold then keeps or releases a parent and
# its children together, so erasing released rows never strands a held child
# whose parent is gone (which the foreign key would refuse).
order_items = table(
    "order_items", "The products in each order.",
    key("Order line number."),
    link("order_id", "orders.id", UNIQUE_ID, "The order this line belongs to."),
    field("placed_at", DateTime, "user.behavior.purchase_history",
          "When the order was placed (copied from the order for the tax hold)."),
    field("sku", String(32), OPERATIONS, "Catalog stock-keeping unit."),
    field("product_name", String(200), OPERATIONS, "Catalog product name."),
    field("quantity", Integer, "user.behavior.purchase_history", "How many were bought."),
    field("unit_price_cents", Integer, OPERATIONS, "Catalog price, in cents."),
)

payments = table(
    "payments", "Card payments, tokenized by the payment processor: never a card number or code.",
    key("Payment number."),
    link("order_id", "orders.id", UNIQUE_ID, "The order paid."),
    field("placed_at", DateTime, "user.behavior.purchase_history",
          "When the order was placed (copied from the order for the tax hold)."),
    field("card_brand", String(20), "user.financial.credit_card.brand", "Card network."),
    field("card_last4", String(4), "user.financial.credit_card.last_four",
          "Last four digits of the card number."),
    field("card_expiry", String(5), "user.financial.credit_card.expiry", "Expiry, MM/YY."),
    field("payment_token", String(64), "user.payment.card_token",
          "The processor's token standing for the card; a secret."),
)

returns = table(
    "returns", "Returns and exchanges; identity is checked to prevent fraud.",
    key("Return number."),
    link("order_id", "orders.id", UNIQUE_ID, "The order returned."),
    field("reason", Text, "user.content.private", "Why the customer returned the goods."),
    field("id_document_type", String(30), "user.government_id", "Kind of ID shown."),
    field("id_document_last4", String(4), "user.government_id", "Last four of the ID number."),
    field("created_at", DateTime, "user.behavior.purchase_history", "When the return was made."),
)

support_tickets = table(
    "support_tickets", "Customer support cases, with the agent's free-text notes.",
    key("Ticket number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The customer who asked."),
    field("channel", String(20), OPERATIONS, "How the case came in: email, chat, phone."),
    field("subject", String(200), "user.content.private", "Subject line."),
    field("notes", Text, "user.content.private", "Agent notes; mention personal details."),
    field("created_at", DateTime, "user.behavior", "When the case was opened."),
)

call_records = table(
    "call_records", "Call-center log, known only by the caller's phone number.",
    key("Call number."),
    field("caller_phone", String(HASHED), "user.contact.phone_number",
          "Caller's number in E.164 form.", identity="phone"),
    field("agent", String(100), OPERATIONS, "The agent who took the call."),
    field("summary", Text, "user.content.private", "What the call was about."),
    field("called_at", DateTime, "user.behavior", "When the call took place."),
)

product_registrations = table(
    "product_registrations", "Products registered for warranty and support.",
    key("Registration number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The owner."),
    field("product", String(200), "user.behavior.purchase_history", "The product registered."),
    field("serial_number", String(40), "user.device.device_id", "The unit's serial number."),
    field("purchased_on", Date, "user.behavior.purchase_history", "Date of purchase."),
    field("registered_at", DateTime, "user.behavior", "When it was registered."),
)

_PREFERENCE = "user.privacy_preferences"
marketing_preferences = table(
    "marketing_preferences", "Marketing choices per channel.",
    key("Preference record number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The customer these choices belong to.",
         unique=True),
    field("email_opt_in", Boolean, _PREFERENCE, "Agrees to marketing e-mail."),
    field("post_opt_in", Boolean, _PREFERENCE, "Agrees to marketing by post."),
    field("phone_opt_in", Boolean, _PREFERENCE, "Agrees to marketing calls."),
    field("sms_opt_in", Boolean, _PREFERENCE, "Agrees to marketing text messages."),
    field("updated_at", DateTime, _PREFERENCE, "When the choices last changed."),
)

contest_entries = table(
    "contest_entries", "Contest and sweepstakes entries; entrants need no account.",
    key("Entry number."),
    field("email", String(320), "user.contact.email", "Entrant's e-mail, stored lowercase.",
          identity="email"),
    link("customer_id", "customers.id", UNIQUE_ID, "The entrant's account, if any.",
         nullable=True),
    field("contest", String(100), OPERATIONS, "Which contest."),
    field("answer", Text, "user.content.private", "The entrant's answer."),
    field("marketing_consent", Boolean, _PREFERENCE, "Agreed to marketing when entering."),
    field("entered_at", DateTime, "user.behavior", "When the entry was made."),
)

survey_responses = table(
    "survey_responses", "Answers to customer surveys.",
    key("Response number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The respondent."),
    field("survey", String(100), OPERATIONS, "Which survey."),
    field("answers", Text, "user.content.private", "The answers, as JSON text."),
    field("submitted_at", DateTime, "user.behavior", "When the answers were sent."),
)

affiliate_clicks = table(
    "affiliate_clicks", "Visits that arrived through an affiliate's link.",
    key("Click number."),
    field("cookie_id", String(HASHED), "user.device.cookie_id", "The visitor's cookie.",
          identity="cookie_id"),
    field("affiliate_id", String(40), OPERATIONS, "The affiliate credited."),
    field("ip_address", String(HASHED), "user.device.ip_address", "The visitor's IP address."),
    field("landing_url", String(500), "user.behavior.browsing_history", "Page the link led to."),
    field("clicked_at", DateTime, "user.behavior.browsing_history", "When the link was followed."),
)

web_sessions = table(
    "web_sessions", "Web log: one visit to the store, signed in or not.",
    key("Session number."),
    field("cookie_id", String(64), "user.device.cookie_id", "The visitor's cookie.",
          identity="cookie_id"),
    link("customer_id", "customers.id", UNIQUE_ID, "The signed-in customer, if any.",
         nullable=True),
    field("ip_address", String(45), "user.device.ip_address", "The visitor's IP address."),
    field("user_agent", String(300), "user.device", "Browser and operating system."),
    field("started_at", DateTime, "user.behavior.browsing_history", "When the visit began."),
)

page_views = table(
    "page_views", "Web log: each page seen during a visit.",
    key("Page view number."),
    link("session_id", "web_sessions.id", OPERATIONS, "The visit."),
    field("started_at", DateTime, "user.behavior.browsing_history",
          "When the visit began (copied from the session for the web-log hold)."),
    field("url", String(500), "user.behavior.browsing_history", "The page."),
    field("viewed_at", DateTime, "user.behavior.browsing_history", "When it was seen."),
    field("duration_ms", Integer, "user.behavior.browsing_history", "Time spent on the page."),
)

reviews = table(
    "reviews", "Product reviews published on the store.",
    key("Review number."),
    link("customer_id", "customers.id", UNIQUE_ID, "The author.", nullable=True),
    field("product", String(200), OPERATIONS, "The product reviewed."),
    field("rating", Integer, "user.content.public", "Stars, 1 to 5."),
    field("title", String(200), "user.content.public", "Review title."),
    field("body", Text, "user.content.public", "Review text."),
    field("created_at", DateTime, "user.content.public", "When it was published."),
)

app_installs = table(
    "app_installs", "Installations of the companion mobile app.",
    key("Install number."),
    field("device_id", String(64), "user.device.device_id", "The app's installation id.",
          identity="device_id", unique=True),
    link("customer_id", "customers.id", UNIQUE_ID, "The signed-in customer, if any.",
         nullable=True),
    field("platform", String(20), "user.device", "Operating system."),
    field("push_token", String(200), "user.device", "Address for push notifications."),
    field("installed_at", DateTime, "user.device", "When the app was installed."),
)

voice_recordings = table(
    "voice_recordings", "Voice commands spoken to the app's assistant.",
    key("Recording number."),
    link("device_id", "app_installs.device_id", "user.device.device_id", "The device.",
         type_=String(64)),
    field("recording_ref", String(300), "user.biometric.voice",
          "Storage URI of the voice sample."),
    field("transcript", Text, "user.content.private", "What was said."),
    field("recorded_at", DateTime, "user.behavior", "When it was said."),
)

location_pings = table(
    "location_pings", "Precise locations reported by the app (for dealer and repair finder).",
    key("Ping number."),
    link("device_id", "app_installs.device_id", "user.device.device_id", "The device.",
         type_=String(64)),
    field("latitude", Numeric(8, 6, asdecimal=False), "user.location.precise", "Latitude."),
    field("longitude", Numeric(9, 6, asdecimal=False), "user.location.precise", "Longitude."),
    field("accuracy_m", Integer, "user.location.precise", "Accuracy radius, in meters."),
    field("recorded_at", DateTime, "user.location.precise", "When the location was taken."),
)

TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)
"""Every table, parents before children."""


def categories(column: Column[Any]) -> tuple[str, ...]:
    return tuple(column.info["categories"])


def identity(column: Column[Any]) -> str | None:
    value = column.info.get("identity")
    return str(value) if value else None
