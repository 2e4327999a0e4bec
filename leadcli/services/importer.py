"""Bulk import: CSV, JSON or JSONL files as CRMs and spreadsheets write them, mapped onto lead
fields, validated row by row, and written in batches (one transaction each on SQLite).

Memory stays flat whatever the file size: records are read one at a time, written a batch at a
time, and the emails seen so far (to reject duplicates within the file) live in a temporary
on-disk table (store/scratch.py) rather than in a Python set.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from leadcli.domain.artisan import stage_since
from leadcli.domain.dates import now_utc
from leadcli.domain.errors import Conflict, InvalidInput, LeadError, VersionConflict
from leadcli.domain.lead import new_lead
from leadcli.domain.query import LeadQuery
from leadcli.services.context import Workspace
from leadcli.services.import_files import Source, normalize_header
from leadcli.services.import_rows import Row, RowParser
from leadcli.services.leads import diff, fit_for_store, set_stage, update_lead
from leadcli.store.base import Lead
from leadcli.store.scratch import Drafts, FirstRows

# Rows per write (one SQLite transaction). Larger batches update each index page, the FTS index
# and the WAL fewer times (10,000 against 5,000: a 50,000-row import ~7% faster) at ~30 MB more
# peak memory (~150 MB, the same for any file size: see bench/bench_import.py).
BATCH_SIZE = 10_000


# -- writing -------------------------------------------------------------------------------------


@dataclass
class Summary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows: int = 0


@dataclass
class Rejected:
    row: int
    raw: Any
    reason: str


class _GcOff:
    """While importing, the cyclic garbage collector would walk every object of the process
    (Typer's, pydantic's…) and every row of the batch in hand again and again as rows are made:
    ~15% of an import's CPU, still ~8% with rarer passes (perf). The objects alive at the start
    are set aside (gc.freeze) and the collector is off until the import ends: rows make no
    reference cycles, refcounting frees them (a 20,000-row file with 16,000 rejected rows left
    139 unreachable objects in all), so memory stays flat. Undone at the end."""

    def __init__(self) -> None:
        self.enabled = gc.isenabled()
        gc.freeze()
        gc.disable()

    def end(self) -> None:
        if self.enabled:
            gc.enable()
        gc.unfreeze()


class Importer:
    """Runs one import. `run()` yields each rejected row as it is found (the caller reports it
    and may write it to a rejects file); `summary` holds the counts."""

    def __init__(
        self,
        ws: Workspace,
        source: Source,
        *,
        maps: dict[str, str] | None = None,
        upsert: bool = False,
        dry_run: bool = False,
        batch_size: int = BATCH_SIZE,
        on_batch: Callable[[Summary, int], None] | None = None,
        decimal: str | None = None,
    ) -> None:
        self.ws = ws
        self.source = source
        self.maps = maps or {}
        self.upsert = upsert
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.summary = Summary()
        self.parser = RowParser(ws, self.maps, source.header, decimal=decimal)
        from leadcli.domain.validation import check_lead_size

        self.check_size = check_lead_size
        self._drafts: Drafts | None = None
        self._bulk = contextlib.ExitStack()  # the store's bulk load, entered at the first write
        self._bulk_started = False
        self._inserting = 0  # the inserts of the batch being written (see _expected_inserts)
        self._check_maps()

    def _check_maps(self) -> None:
        if self.source.header is None:
            return
        present = {normalize_header(h) for h in self.source.header}
        missing = [source for source in self.maps if normalize_header(source) not in present]
        if missing:
            raise InvalidInput(f"--map: no column {missing[0]!r} in the file; columns: {', '.join(self.source.header)}")

    def run(self) -> Iterator[Rejected]:
        """Rejected rows come out in row order, a batch at a time."""
        seen = FirstRows()
        self._drafts = Drafts() if self.dry_run and self.upsert else None
        gc_off = _GcOff()
        error: BaseException | None = None
        try:
            batch: list[Row] = []
            held: list[Rejected] = []  # rejected while reading this batch
            pending: set[str] = set()  # this batch's emails (--upsert)
            for record in self.source.records():
                self.summary.rows += 1
                if record.error:
                    held.append(self._reject(record.row, record.raw, record.error))
                    continue
                try:
                    row = self.parser.parse(record)
                except InvalidInput as exc:
                    held.append(self._reject(record.row, record.raw, exc.message))
                    continue
                if self.upsert and row.email in pending:
                    # The later row updates what the earlier one wrote. (Without --upsert both
                    # stay in the batch: a duplicate is of the row that wrote, see _write_batch.)
                    yield from self._flush(batch, held, seen)
                    batch, held, pending = [], [], set()
                batch.append(row)
                pending.add(row.email)
                if len(batch) >= self.batch_size:
                    yield from self._flush(batch, held, seen)
                    batch, held, pending = [], [], set()
            yield from self._flush(batch, held, seen)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                # The store catches up on what it set aside, if anything; told of the import's own
                # error, it reports that one and leaves a failed catching up to the next open.
                if error is None:
                    self._bulk.close()
                else:
                    self._bulk.__exit__(type(error), error, error.__traceback__)
            finally:
                gc_off.end()
            seen.close()
            if self._drafts is not None:
                self._drafts.close()

    def _flush(self, batch: list[Row], held: list[Rejected], seen: FirstRows) -> Iterator[Rejected]:
        rejected = held + list(self._write_batch(batch, seen))
        yield from sorted(rejected, key=lambda r: r.row)
        if self.on_batch:
            self.on_batch(self.summary, self.source.bytes_read)

    def _reject(self, row: int, raw: Any, reason: str) -> Rejected:
        self.summary.rejected += 1
        return Rejected(row, raw, reason)

    def _write_batch(self, batch: list[Row], seen: FirstRows) -> Iterator[Rejected]:
        if not batch:
            return
        store = self.ws.store
        emails = [row.email for row in batch]
        existing = {lead["email"].lower(): lead for lead in store.find_by_emails(emails)}
        # An email an earlier row wrote is in the store now: only those need their first row
        # (a dry run writes nothing, so there every email is looked up).
        earlier = {} if self.upsert else seen.rows(emails if self.dry_run else [e for e in emails if e in existing])
        if self._drafts is not None:  # a dry run: what the rows before these would have written
            existing.update(self._drafts.get(emails))
        ids = tuple(row.system["id"] for row in batch if "id" in row.system)
        # Who holds each id the file gives: the store, or (a dry run) a lead an earlier row would
        # have inserted, or one an earlier row of this batch inserts (`given`, id: email).
        owners = {lead["id"]: lead["email"] for lead in store.query(LeadQuery(ids=ids))} if ids else {}
        if self.dry_run and ids:
            owners = {**seen.emails_of(ids), **owners}
        given: dict[str, str] = {}
        now = now_utc()
        inserts: list[tuple[Row, Lead]] = []
        updates: list[tuple[Row, Lead, Lead]] = []
        # This batch's emails with the row that inserts them: a later row of the batch naming one
        # is its duplicate, as one in a later batch is (`seen`); a row rejected here wrote
        # nothing, so a later row with its email is not (without --upsert: with it, run() puts
        # such a row in a batch of its own).
        first: dict[str, int] = {}
        for row in batch:
            current = existing.get(row.email)
            given_id = row.system.get("id", "")
            owner = owners.get(given_id) or given.get(given_id)
            if row.email in earlier or row.email in first:
                reason = f"duplicate of row {earlier.get(row.email) or first[row.email]} (email {row.email})"
                yield self._reject(row.record.row, row.record.raw, reason)
            elif owner is not None and owner != row.email:
                reason = f"id {given_id} belongs to another lead ({owner})"
                yield self._reject(row.record.row, row.record.raw, reason)
            elif current is None:
                if not row.user.get("name"):
                    yield self._reject(row.record.row, row.record.raw, "name is required (a Name column, or First Name and Last Name)")
                    continue
                try:
                    inserts.append((row, fit_for_store(self.ws, self._new_lead(row, now), "column")))
                except InvalidInput as exc:  # over a size limit, or a lead the web app sharing the store could not read
                    yield self._reject(row.record.row, row.record.raw, exc.message)
                    continue
                first[row.email] = row.record.row
                if given_id:
                    given[given_id] = row.email
            elif not self.upsert:
                reason = f"a lead with email {row.email} already exists (id {current['id']}); use --upsert to update it"
                yield self._reject(row.record.row, row.record.raw, reason)
            else:
                try:
                    draft = self._apply(row, current, now)
                except InvalidInput as exc:  # over a size limit
                    yield self._reject(row.record.row, row.record.raw, exc.message)
                    continue
                if draft is None:
                    self.summary.unchanged += 1
                    continue
                try:
                    updates.append((row, current, fit_for_store(self.ws, draft, "column")))
                except InvalidInput as exc:
                    yield self._reject(row.record.row, row.record.raw, exc.message)
        if not self.dry_run:
            yield from self._write(inserts, updates, now)
        else:
            self.summary.inserted += len(inserts)
            self.summary.updated += len(updates)
            if self._drafts is not None:
                self._drafts.put([lead for _, lead in inserts] + [draft for _, _, draft in updates])
        if not self.upsert:
            seen.add([(row.email, row.record.row) for row, _ in inserts])
        if self.dry_run and given:
            seen.add_ids(list(given.items()))

    def _expected_inserts(self) -> int | None:
        """The leads this import will insert in all (the batch being written included), estimated
        from the file's size, the share of it read so far and the share of its rows so far that
        insert; None when unknown (a pipe). A file of mostly unchanged leads expects few."""
        try:
            st = os.fstat(self.source.binary.fileno())
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        read = self.source.bytes_read
        if not stat.S_ISREG(st.st_mode) or read <= 0 or not self.summary.rows:
            return None
        inserts = self.summary.inserted + self._inserting
        return int(inserts * max(st.st_size, read) / read)

    def _write(self, inserts: list[tuple[Row, Lead]], updates: list[tuple[Row, Lead, Lead]], now: datetime) -> Iterator[Rejected]:
        user = self.ws.user
        if not self._bulk_started:  # the store may set index upkeep aside for a large load (LeadStore.bulk_load)
            self._bulk.enter_context(self.ws.store.bulk_load(self._expected_inserts))
            self._bulk_started = True
        self._inserting = len(inserts)
        results = self.ws.store.write_batch(
            [(lead, {"type": "lead_created", "by": user, "at": now, "changes": {}}) for _, lead in inserts],
            [
                (draft, before["version"], {"type": _event_type(changes), "by": user, "at": now, "changes": changes})
                for _, before, draft in updates
                for changes in [diff(before, draft)]
            ],
        )
        for (row, _), error in zip(inserts, results[: len(inserts)], strict=True):
            if error is None:
                self.summary.inserted += 1
            else:
                yield self._reject(row.record.row, row.record.raw, _message(error))
        for (row, before, _), error in zip(updates, results[len(inserts) :], strict=True):
            if error is None:
                self.summary.updated += 1
            elif isinstance(error, VersionConflict):  # changed meanwhile: re-read and retry alone
                try:
                    _, changed = update_lead(self.ws, before["id"], functools.partial(self._apply, row))
                except LeadError as exc:
                    yield self._reject(row.record.row, row.record.raw, exc.message)
                    continue
                if changed:
                    self.summary.updated += 1
                else:
                    self.summary.unchanged += 1
            else:
                yield self._reject(row.record.row, row.record.raw, _message(error))

    def _new_lead(self, row: Row, now: datetime) -> Lead:
        user, system = row.user, row.system
        stage = user.get("current_stage") or self.ws.pipeline.first
        created = system.get("created_at") or now
        lead: Lead = new_lead(
            None, None, stage, created, self.ws.user,
            id=system.get("id"), stage_updated_at=system.get("stage_updated_at") or created,
            updated_at=system.get("updated_at") or now, version=system.get("version") or 1,
        )  # fmt: skip
        if "stage_history" in system:
            lead["stage_history"] = system["stage_history"]
            if "stage_updated_at" not in system:  # a Leads Artisan lead has none: its history says
                lead["stage_updated_at"] = stage_since({**lead, "stage_updated_at": None}) or created
        if "activities" in system:
            lead["activities"] = system["activities"]
        for key, value in user.items():
            if value is not None and key != "current_stage":
                lead[key] = value
        self.check_size(lead)
        return lead

    def _same_day(self, value: Any, stored: Any) -> bool:
        """`value` is a bare day (midnight in the import's zone) that `stored` falls on."""
        if not isinstance(value, datetime) or not isinstance(stored, datetime):
            return False
        local, kept = value.astimezone(self.ws.zone), stored.astimezone(self.ws.zone)
        return local.time() == time(0) and local.date() == kept.date() and value != stored

    def _apply(self, row: Row, lead: Lead, now: datetime) -> Lead | None:
        """`lead` with the row's fields over it (blank cells change nothing), or None if that
        changes nothing. Ids, timestamps and history of the stored lead are kept."""
        draft = {**lead, "fields": dict(lead.get("fields") or {})}
        for key, value in row.user.items():
            if key == "fields":
                draft["fields"].update(value)
            elif key == "email" and str(lead.get("email", "")).lower() == value:
                continue  # the address it matched: keep the stored spelling (another app's may keep case)
            elif key == "status" and row.derived_status and row.user.get("engaged") == lead.get("engaged"):
                continue  # engagement unchanged: a status of the lead's own stays
            elif key == "last_contacted" and self._same_day(value, lead.get("last_contacted")):
                continue  # a day only (the web app's export) on the stored moment's day: keep the moment
            elif key != "current_stage" and value is not None:
                draft[key] = value
        stage = row.user.get("current_stage")
        if stage is not None and stage != lead.get("current_stage"):
            set_stage(draft, stage, now, self.ws.user)
        if draft == lead:
            return None
        draft["updated_at"] = now
        self.check_size(draft)
        return draft


def _event_type(changes: dict[str, Any]) -> str:
    return "lead_stage_changed" if "current_stage" in changes else "lead_updated"


def _message(error: Exception) -> str:
    return error.message if isinstance(error, (Conflict, LeadError)) else str(error)
