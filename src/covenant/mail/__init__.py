"""Covenant's notifications: what a requester is told, kept durably, then delivered.

* :mod:`~covenant.mail.messages` renders the plain-language messages (receipt,
  verification, extension, denial, completion). Pure.
* :mod:`~covenant.mail.retry` decides when a failed send is tried again. Pure.
* :mod:`~covenant.mail.tables` and :mod:`~covenant.mail.outbox` keep every message
  in Covenant's own database, sealed, until it is sent, and deliver it.
* :mod:`~covenant.mail.smtp` speaks SMTP to the configured server.
* :mod:`~covenant.mail.web` shows the outbox at ``/outbox`` in the demo.

Nothing here decides *whether* a message is due; the request desk does, and
queues the message in the same transaction as the move that calls for it.
"""

from covenant.mail.messages import (
    Letterhead,
    MailError,
    Message,
    completion,
    denial,
    extension,
    receipt,
    verification,
)
from covenant.mail.outbox import Outbox, OutboxEntry
from covenant.mail.smtp import Sender, SendFailed, SmtpSender

__all__ = [
    "Letterhead",
    "MailError",
    "Message",
    "Outbox",
    "OutboxEntry",
    "SendFailed",
    "Sender",
    "SmtpSender",
    "completion",
    "denial",
    "extension",
    "receipt",
    "verification",
]
