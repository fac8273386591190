"""Storage: tables, engines and the transaction boundary, migrations."""

from omnigift.db.engine import Database

__all__ = ["Database"]
