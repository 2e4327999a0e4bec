"""The Workspace: settings, the pipeline, the user and a lazily opened store, shared by services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property

from leadcli.config import Settings
from leadcli.domain.pipeline import Pipeline
from leadcli.store.base import LeadStore


@dataclass
class Workspace:
    settings: Settings
    _store: LeadStore | None = field(default=None, repr=False)

    @property
    def store(self) -> LeadStore:
        if self._store is None:
            from leadcli.domain.errors import InvalidInput
            from leadcli.store import open_store

            try:
                self._store = open_store(self.settings.db, database=self.settings.database)
            except InvalidInput as exc:  # name where the bad store came from: a cron job's LEADCLI_DB has no --db
                source = self.settings.sources.get("db", "flag")
                message = str(exc)
                if source == "flag" or not message.startswith("--db: "):
                    raise
                named = source.removeprefix("env ") if source.startswith("env ") else f"db in {source.removeprefix('config ')}"
                raise InvalidInput(f"{named}: {message.removeprefix('--db: ')}") from None
        return self._store

    @cached_property
    def pipeline(self) -> Pipeline:
        cfg = self.settings.pipeline
        return Pipeline.from_config(cfg.get("stages"), cfg.get("closed"), cfg.get("won"), cfg.get("lost"))

    @cached_property
    def web_app(self) -> bool:
        """Whether every lead written must stay readable by the Leads Artisan web app: on a
        MongoDB store (it shares the `leads` collection), unless the config opts out."""
        from leadcli.store import is_mongo_uri

        return self.settings.web_app_compatible and is_mongo_uri(self.settings.db)

    @property
    def user(self) -> str:
        return self.settings.user

    @cached_property
    def zone(self) -> tzinfo:
        from leadcli.domain.dates import local_zone

        return local_zone(self.settings.timezone)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
