"""The demo store: a fictional audio-electronics web shop to try Covenant on.

Owns the shop's schema (:mod:`~covenant.demo.schema`), the Fides dataset derived
from it, its declaration, deterministic rows for any number of customers, and
the bulk loads into SQLite, PostgreSQL and MariaDB. Nothing else in Covenant
depends on it except tests and benchmarks, which use it as a realistic store.
"""

from covenant.demo.generate import SampleCustomer, Samples
from covenant.demo.store import DemoStore, create

__all__ = ["DemoStore", "SampleCustomer", "Samples", "create"]
