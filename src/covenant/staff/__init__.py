"""Staff accounts for the console: who may sign in, with which role, and their sessions.

- ``usernames`` and ``passwords``: the rules for both (pure) and argon2id hashing;
- ``roles``: what each role may do (pure), and the check a console page makes;
- ``accounts``: the accounts, sign-in with lockout, every change audited
  (``events``: the audit events for account changes);
- ``sessions``: server-side sessions with idle and absolute timeouts;
- ``ratelimit``: the sign-in page's per-address token bucket (pure);
- ``web``: the sign-in pages; ``cli``: ``covenant staff add|list|disable``.

See ``docs/staff.md``. CSRF protection lives in :mod:`covenant.web.csrf`,
since the privacy center's forms use it too.
"""
