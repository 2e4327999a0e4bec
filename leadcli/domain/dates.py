"""Dates and times: always aware, stored and printed in UTC with millisecond precision.

Input without a zone is read in the local timezone (or the configured one).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import overload

from leadcli.domain.errors import InvalidInput

_OFFSET = re.compile(r"^([+-])(\d+)\s*(mo|[mhdwy])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MONTHS = {"mo": 1, "y": 12}


def now_utc() -> datetime:
    """The current time in UTC, truncated to milliseconds (what MongoDB can store)."""
    return truncate_ms(datetime.now(UTC))


def truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_utc(value: datetime) -> datetime:
    """Aware UTC, milliseconds; naive values are UTC (as the Leads Artisan backend wrote them)."""
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # already what it would become (an import normalizes each date twice)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return truncate_ms(value.astimezone(UTC))


@overload
def iso(value: datetime) -> str: ...


@overload
def iso(value: None) -> None: ...


@overload
def iso(value: datetime | None) -> str | None: ...


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a UTC offset and milliseconds: the one format for storage and output."""
    if value is None:
        return None
    return _iso(value)


@functools.lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    # Cached: an import writes the same few instants (the batch's "now") into every lead, and
    # equal instants (whatever their zone) have one UTC text.
    return to_utc(value).isoformat(timespec="milliseconds")


def from_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return to_utc(datetime.fromisoformat(text))


def local_zone(name: str | None = None) -> tzinfo:
    """The configured timezone by IANA name, else the machine's local one."""
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"unknown timezone {name!r} (use an IANA name such as Europe/Paris)") from exc
    return _machine_zone() or _current_offset()


def _machine_zone() -> tzinfo | None:
    """The machine's zone with its rules (DST): `TZ` when it names an IANA zone or a zone file,
    else /etc/localtime; None when neither can be read (then the current offset is all there is).
    A fixed offset would read a July date typed in Paris in winter an hour off."""
    import os
    from zoneinfo import ZoneInfo

    name = os.environ.get("TZ")
    try:
        if name is not None:
            key = name.removeprefix(":")
            if not key:
                return ZoneInfo("UTC")  # an empty TZ is UTC to the C library too
            if key.startswith("/"):
                with open(key, "rb") as file:
                    return ZoneInfo.from_file(file, key=key)
            return ZoneInfo(key)
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError, KeyError):  # an unknown key: ZoneInfoNotFoundError, a KeyError
        return None


def _current_offset() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def parse_when(
    text: str,
    *,
    flag: str = "date",
    zone: tzinfo | None = None,
    end_of_day: bool = False,
    now: datetime | None = None,
) -> datetime:
    """Read a DATE as the contract allows: YYYY-MM-DD, ISO timestamps, today/yesterday/tomorrow,
    now, and offsets such as -3d or +2w (m, h, d, w). A bare day means its start, or its end
    with `end_of_day` (used for "due by" bounds). Raises InvalidInput naming `flag`."""
    try:
        return _parse_when(text, zone or local_zone(), end_of_day, now or datetime.now(UTC))
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{flag}: cannot read {text!r} as a date (use YYYY-MM-DD, an ISO timestamp, "
            "today, yesterday, tomorrow, or an offset like -3d or +2w; units m h d w mo y)"
        ) from None


def _parse_when(text: str, zone: tzinfo, end_of_day: bool, now: datetime) -> datetime:
    """`parse_when` without the error message: ValueError/OverflowError on what it cannot read
    (a far-off offset such as +99999999999d or a date near year 1 or 9999 overflows)."""
    raw = text.strip().lower()
    today = now.astimezone(zone).date()
    named = {"today": today, "yesterday": today - timedelta(days=1), "tomorrow": today + timedelta(days=1)}
    if raw == "now":
        return truncate_ms(now.astimezone(UTC))
    if raw in named:
        return _day_bound(named[raw], zone, end_of_day)
    match = _OFFSET.match(raw)
    if match:
        sign, amount, unit = match.groups()
        if unit in _MONTHS:
            return truncate_ms(_add_months(now, int(amount) * _MONTHS[unit] * (1 if sign == "+" else -1)).astimezone(UTC))
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return truncate_ms((now + delta if sign == "+" else now - delta).astimezone(UTC))
    if len(raw) == 10:
        return _day_bound(date.fromisoformat(raw), zone, end_of_day)
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return to_utc(value)


def _add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later (or earlier); the 31st becomes the shorter month's last day."""
    import calendar

    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _day_bound(day: date, zone: tzinfo, end_of_day: bool) -> datetime:
    moment = datetime.combine(day, time.max if end_of_day else time.min).replace(tzinfo=zone)
    return to_utc(moment)
