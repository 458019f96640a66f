"""Staff accounts: creating and changing them, and signing in with lockout.

Owns ``staff_accounts`` and every write to it. Each change and each sign-in,
successful or not, is recorded in the audit trail in the same transaction;
the audit entries name the account (``staff:<id>``), never the username
typed, which is often an e-mail address.

Sign-in answers every failure the same way (:class:`LoginFailed`): unknown
username, wrong password, locked and disabled account get one message and
cost one argon2 verification each, so neither the words nor the timing tell
an attacker which usernames exist (OWASP Authentication Cheat Sheet).

Lockout (OWASP Authentication Cheat Sheet, "Account Lockout"): after
``max_failures`` wrong passwords within ``window`` the account is locked for
``lockout``. An attempt is *claimed* before the password is checked, by one
conditional ``UPDATE`` that adds 1 to ``failed_attempts`` only while the
account is under the limit, enabled and not locked; a correct password then
resets the count. Because the database applies that ``UPDATE`` to one row at
a time (a row lock on PostgreSQL and MariaDB, the single writer on SQLite),
any number of parallel guesses gets at most ``max_failures`` password checks
per window. The argon2 check runs outside any transaction, so a slow hash
never holds a lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from covenant.audit import AuditLog, StaffLogin, StaffLoginFailed
from covenant.audit.events import AuditEvent
from covenant.audit.store import UTCDateTime
from covenant.errors import CovenantError
from covenant.staff import usernames
from covenant.staff.events import (
    StaffAccountCreated,
    StaffAccountDisabled,
    StaffPasswordChanged,
    StaffRoleChanged,
)
from covenant.staff.passwords import Passwords
from covenant.staff.roles import Role
from covenant.staff.tables import staff_accounts, staff_sessions

_a = staff_accounts.c


class LoginFailed(CovenantError):
    """The username or password is not right, or the account cannot sign in now. Check them and try again in a few minutes, or ask an administrator."""

    status = 400


class AccountExists(CovenantError):
    """There is already a staff account with this username."""

    exit_code = 2
    status = 409


class NoSuchAccount(CovenantError):
    """There is no staff account with this username."""

    exit_code = 2
    status = 404


class InvalidRole(CovenantError):
    """The role must be admin, reviewer or read_only."""

    exit_code = 2
    status = 400


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None

    @property
    def ref(self) -> str:
        """The account as the audit trail names it."""
        return f"staff:{self.id}"


def role_of(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidRole() from None


class StaffAccounts:
    """Staff accounts in one database, audited in ``audit`` (on the same engine)."""

    def __init__(
        self,
        engine: sa.Engine,
        audit: AuditLog,
        *,
        passwords: Passwords | None = None,
        max_failures: int = 5,
        window: dt.timedelta = dt.timedelta(minutes=15),
        lockout: dt.timedelta = dt.timedelta(minutes=15),
    ) -> None:
        if audit.engine is not engine:
            raise ValueError("the audit log must use the staff accounts' engine")
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.engine = engine
        self.audit = audit
        self.passwords = passwords or Passwords()
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout

    def __repr__(self) -> str:
        return f"StaffAccounts({self.engine.url.render_as_string(hide_password=True)!r})"

    # Reading

    def find(self, username: str) -> Account | None:
        name = usernames.normalize(username)
        if name is None:
            return None
        return self._one(_a.username == name)

    def get(self, account_id: int) -> Account:
        found = self._one(_a.id == account_id)
        if found is None:
            raise NoSuchAccount()
        return found

    def all(self) -> list[Account]:
        with self.engine.connect() as conn:
            rows = conn.execute(staff_accounts.select().order_by(_a.username)).all()
        return [_account(row) for row in rows]

    def _one(self, where: sa.ColumnElement[bool]) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(staff_accounts.select().where(where)).first()
        return _account(row) if row else None

    # Changing

    def create(
        self,
        username: str,
        password: str,
        role: str | Role,
        *,
        now: dt.datetime | None = None,
        actor: str = "system",
    ) -> Account:
        """A new account; raises if the username, password or role is not acceptable."""
        name = usernames.check(username)
        chosen = role_of(role)
        digest = self.passwords.hash(password, username=name)  # before any lock is held
        at = now or _now()
        try:
            with self.audit.transaction() as conn:
                taken = conn.execute(sa.select(_a.id).where(_a.username == name)).first()
                if taken:
                    raise AccountExists()
                inserted = conn.execute(
                    staff_accounts.insert().values(
                        username=name,
                        password_hash=digest,
                        role=chosen.value,
                        failed_attempts=0,
                        created_at=at,
                    )
                ).inserted_primary_key
                assert inserted is not None  # every backend here reports the new id
                new_id = int(inserted[0])
                event = StaffAccountCreated(
                    actor=actor, subject_ref=f"staff:{new_id}", role=chosen.value
                )
                self.audit.append_in(conn, event, at=at)
        except sa.exc.IntegrityError:  # created by a writer that did not take the audit lock
            raise AccountExists() from None
        return self.get(new_id)

    def set_password(
        self,
        account_id: int,
        password: str,
        *,
        now: dt.datetime | None = None,
        actor: str = "system",
    ) -> None:
        """Set a new password, clear any lockout, and end every session of the account."""
        account = self.get(account_id)
        digest = self.passwords.hash(password, username=account.username)
        at = now or _now()
        values = {
            "password_hash": digest,
            "failed_attempts": 0,
            "first_failed_at": None,
            "locked_until": None,
        }
        self._change(
            account, values, StaffPasswordChanged(actor=actor, subject_ref=account.ref), at
        )

    def set_role(
        self,
        account_id: int,
        role: str | Role,
        *,
        now: dt.datetime | None = None,
        actor: str = "system",
    ) -> Account:
        """Change the role. Sessions read the role on every request, so it applies at once."""
        chosen = role_of(role)
        account = self.get(account_id)
        event = StaffRoleChanged(actor=actor, subject_ref=account.ref, role=chosen.value)
        self._change(account, {"role": chosen.value}, event, now or _now(), end_sessions=False)
        return self.get(account_id)

    def disable(
        self, account_id: int, *, now: dt.datetime | None = None, actor: str = "system"
    ) -> Account:
        """Stop the account signing in and end its sessions; disabling twice changes nothing."""
        account = self.get(account_id)
        if account.disabled_at is None:
            at = now or _now()
            event = StaffAccountDisabled(actor=actor, subject_ref=account.ref)
            self._change(account, {"disabled_at": at}, event, at)
        return self.get(account_id)

    def _change(
        self,
        account: Account,
        values: dict[str, object],
        event: AuditEvent,
        at: dt.datetime,
        *,
        end_sessions: bool = True,
    ) -> None:
        with self.audit.transaction() as conn:
            conn.execute(staff_accounts.update().where(_a.id == account.id).values(**values))
            if end_sessions:
                conn.execute(
                    staff_sessions.update()
                    .where(
                        staff_sessions.c.account_id == account.id,
                        staff_sessions.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=at)
                )
            self.audit.append_in(conn, event, at=at)

    # Signing in

    def authenticate(self, username: str, password: str, *, now: dt.datetime) -> Account:
        """The account ``username`` and ``password`` sign in to; else :class:`LoginFailed`.

        Every path checks one argon2 hash and writes one audit entry.
        """
        name = usernames.normalize(username)
        found = self._one(_a.username == name) if name is not None else None
        if found is None:
            self.passwords.burn()
            self._audit(
                StaffLoginFailed(actor="system", subject_ref="unknown", reason="unknown_account"),
                now,
            )
            raise LoginFailed()
        if not self._claim_attempt(found.id, now):
            self.passwords.burn()
            current = self.get(found.id)
            disabled = current.disabled_at is not None
            reason = "disabled" if disabled else "locked"
            event = StaffLoginFailed(
                actor="system", subject_ref=found.ref, reason=reason, locked=not disabled
            )
            self._audit(event, now)
            raise LoginFailed()
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(_a.password_hash).where(_a.id == found.id)).scalar_one()
        if not self.passwords.verify(stored, password):
            self._failed(found, now)
            raise LoginFailed()
        self._succeeded(found, stored, password, now)
        return self.get(found.id)

    def _claim_attempt(self, account_id: int, now: dt.datetime) -> bool:
        """Count one attempt if the account may try now; False when locked or disabled."""
        window_start = now - self.window
        at = sa.literal(now, UTCDateTime)
        # A new window starts when the last one ran out or a lock has expired.
        fresh = sa.or_(
            _a.first_failed_at.is_(None),
            _a.first_failed_at <= window_start,
            _a.locked_until.is_not(None),
        )
        claim = (
            staff_accounts.update()
            .where(
                _a.id == account_id,
                _a.disabled_at.is_(None),
                sa.or_(_a.locked_until.is_(None), _a.locked_until <= now),
                sa.or_(_a.failed_attempts < self.max_failures, fresh),
            )
            # MariaDB evaluates SET left to right, each seeing the columns
            # already set. The order keeps every CASE reading old values:
            # ``fresh`` reads first_failed_at and locked_until, set after it.
            .ordered_values(
                (_a.failed_attempts, sa.case((fresh, 1), else_=_a.failed_attempts + 1)),
                (_a.first_failed_at, sa.case((fresh, at), else_=_a.first_failed_at)),
                (_a.locked_until, None),
            )
        )
        with self.engine.begin() as conn:
            return conn.execute(claim).rowcount == 1

    def _failed(self, account: Account, now: dt.datetime) -> None:
        """Record a wrong password; lock the account if this attempt reached the limit."""
        lock = (
            staff_accounts.update()
            .where(
                _a.id == account.id,
                _a.failed_attempts >= self.max_failures,
                _a.locked_until.is_(None),
            )
            .values(locked_until=now + self.lockout)
        )
        with self.audit.transaction() as conn:
            locked = conn.execute(lock).rowcount == 1
            event = StaffLoginFailed(
                actor="system", subject_ref=account.ref, reason="wrong_password", locked=locked
            )
            self.audit.append_in(conn, event, at=now)

    def _succeeded(self, account: Account, stored: str, password: str, now: dt.datetime) -> None:
        values: dict[str, object] = {
            "failed_attempts": 0,
            "first_failed_at": None,
            "locked_until": None,
        }
        if self.passwords.needs_rehash(stored):
            # Parameters changed since this hash was made: store one made
            # with today's, now that the password is at hand (RFC 9106 §4).
            values["password_hash"] = self.passwords.rehash(password)
        with self.audit.transaction() as conn:
            conn.execute(staff_accounts.update().where(_a.id == account.id).values(**values))
            self.audit.append_in(
                conn, StaffLogin(actor=account.ref, subject_ref=account.ref), at=now
            )

    def _audit(self, event: AuditEvent, at: dt.datetime) -> None:
        self.audit.append(event, at=at)


def _account(row: sa.Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        username=m["username"],
        role=Role(m["role"]),
        created_at=m["created_at"],
        disabled_at=m["disabled_at"],
        locked_until=m["locked_until"],
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
