"""Stores: the LeadStore port and its adapters. `open_store` picks one from a `--db` URI and
imports only that adapter (pymongo is loaded only for MongoDB URIs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from leadcli.domain.errors import InvalidInput, LeadError
from leadcli.store.base import LeadStore

__all__ = ["LeadStore", "open_store", "describe_uri", "escaped_error", "is_mongo_uri"]


def is_mongo_uri(uri: str) -> bool:
    return uri.startswith(("mongodb://", "mongodb+srv://"))


def sqlite_path(uri: str) -> Path | None:
    """The file a SQLite `--db` names (`sqlite:////abs.db`, `sqlite:///rel.db`, `x.db`), else None."""
    if uri.startswith("sqlite:///"):
        rest = uri[len("sqlite:///") :]
        if "?" in rest:  # `?mode=ro` would otherwise name a new, empty file "x.db?mode=ro"
            raise InvalidInput(f"--db: {describe_uri(uri)!r}: sqlite: URIs take no options (?…); give the path alone")
        return Path(rest) if rest else None
    if uri.endswith((".db", ".sqlite", ".sqlite3")) and "://" not in uri:
        return Path(os.path.expanduser(uri))
    return None


def open_store(uri: str, *, database: str | None = None) -> LeadStore:
    if "\x00" in uri:
        raise InvalidInput(f"--db: {describe_uri(uri)!r} holds a NUL character; no store can be named so")
    if is_mongo_uri(uri):
        from leadcli.store.mongo import MongoStore

        return MongoStore(uri, database=database)
    path = sqlite_path(uri)
    if path is None:
        raise InvalidInput(
            f"--db: cannot use {describe_uri(uri)!r}; give a SQLite path ending in .db, "
            "sqlite:////abs/path.db, or a mongodb:// URI"
        )
    from leadcli.config import default_db_path
    from leadcli.store.sqlite import SqliteStore

    # Only the default store's directory is made: a path the user named (--db, LEADCLI_DB, the
    # config) in a directory that does not exist is a typo, exit 2, not a new empty store.
    return SqliteStore(path, create_dir=path.expanduser().absolute() == default_db_path().absolute())


def describe_uri(uri: str) -> str:
    """The URI with any password replaced by ***, safe to print or log."""
    from leadcli.config import mask_uri

    return mask_uri(uri)


def escaped_error(exc: BaseException) -> LeadError | None:
    """The domain error for a store library's exception that escaped its adapter's translation
    (SQLite raising while a caller iterates a cursor: a lock held too long, a damaged file), or
    None if `exc` is not one. For the error boundary, which knows no store library."""
    sqlite3 = sys.modules.get("sqlite3")  # loaded only if a SQLite store was opened
    if sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError):
        from leadcli.store.sqlite import escaped_sqlite_error

        return escaped_sqlite_error(exc)
    return None
