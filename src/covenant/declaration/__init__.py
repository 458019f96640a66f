"""The declaration: one file that states what personal data a store keeps, and why.

Owns loading, shape and cross-reference validation, and the catalog view.
Never connects to a database: the declaration is checked on its own.
"""

from covenant.declaration.load import Loaded, load

__all__ = ["Loaded", "load"]
