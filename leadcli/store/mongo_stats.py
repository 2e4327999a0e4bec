"""`stats` on MongoDB in one aggregation: what `domain.stays.stage_figures` sums in Python, summed
by the server, so no lead's history crosses the wire (store/mongo.py runs it; FerretDB v1, which
has no date arithmetic in aggregation, keeps the streamed Python pass).

Times are integer milliseconds since the epoch, as `domain.stays` reads them: a BSON date, or text
(the naive ISO text the Leads Artisan backend writes into `stage_history`, a record's ISO text
with an offset) parsed by `TEXT_TIME`'s fixed positions and the civil-calendar arithmetic below —
`fromisoformat` then `to_utc`, which truncates to milliseconds. A calendar-invalid text (30 Feb)
is no time, as in Python. Stays are microseconds (`now` keeps its own), so each lead's seconds are
exact; only the order of the float sums over leads differs from Python's.

A lead whose fields have a shape these rules do not cover — text times `TEXT_TIME` does not
match (no seconds, another separator, other fraction digits…), a non-text stage, a `value` that
is not a number, an `engaged` or `stage_updated_at` of another type — is "odd": the pipeline
counts it apart and the caller sums those leads in Python (`odd_filter`), so the figures are
those of `stage_figures`, never silently different.

Only operators MongoDB has had since 4.4 ($isNumber; an older server refuses it and gets the
Python pass) and that mongomock implements too (tests run the pipeline there): no `$type`,
`$reduce`, `$range`, `$zip` or `$dateFromString`. Types are told apart by BSON's comparison
order; a stay's next one is found through `$unwind`'s array index. The (lead, stage) `$group`
holds a few entries a lead: `allowDiskUse` lets it spill past MongoDB's 100 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson.int64 import Int64

Figures = tuple[dict[str | None, tuple[int, float]], int, dict[str, tuple[float, int]]]
Expr = Any

# Aware, as the store's client reads dates (tz_aware): pymongo writes either as the same BSON date.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIRST_DATE, _LAST_DATE = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
# Text times the pipeline reads itself: `YYYY-MM-DD[T ]HH:MM:SS[.fff|.ffffff][Z|±HH:MM]`, the
# fields in range but the day (checked against the month below). Not year 9999 nor below 1000
# (an offset could leave datetime's range: Python raises there). `(?![\s\S])` ends the text:
# `$` would also match before a final newline, which fromisoformat refuses.
TEXT_TIME = (
    r"^(?!9999)[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{3}|\.[0-9]{6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?(?![\s\S])"
)
_DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
_MS_A_DAY = Int64(86_400_000)


# -- types, by BSON's comparison order (x never missing: every field is read through $ifNull) --


def _is_date(x: Expr) -> Expr:
    return {"$and": [{"$gte": [x, _FIRST_DATE]}, {"$lte": [x, _LAST_DATE]}]}


def _is_text(x: Expr) -> Expr:
    return {"$and": [{"$gte": [x, ""]}, {"$lt": [x, {}]}]}


def _is_object(x: Expr) -> Expr:
    return {"$and": [{"$gte": [x, {}]}, {"$lt": [x, []]}]}


def _is_bool(x: Expr) -> Expr:
    return {"$and": [{"$gte": [x, False]}, {"$lte": [x, True]}]}


def _is_null(x: Expr) -> Expr:
    return {"$eq": [x, None]}


def _one_of(x: Expr, *tests: Callable[[Expr], Expr]) -> Expr:
    return {"$or": [test(x) for test in tests]}


def _field(path: str) -> Expr:
    return {"$ifNull": [path, None]}


# -- times ----------------------------------------------------------------------------------


def _odd_text(x: Expr) -> Expr:
    """Text that `_moment` does not read (Python may: the lead goes to the Python pass). Not
    the empty text: no time to either."""
    return {"$cond": [{"$and": [_is_text(x), {"$ne": [x, ""]}]}, {"$not": {"$regexMatch": {"input": x, "regex": TEXT_TIME}}}, False]}


def _moment(x: Expr) -> Expr:
    """Milliseconds since the epoch of a BSON date or a `TEXT_TIME` text, else null (what
    `domain.stays._moment` gives None for)."""
    text = {"$cond": [{"$regexMatch": {"input": x, "regex": TEXT_TIME}}, _text_ms(x), None]}
    return {"$cond": [_is_date(x), {"$subtract": [x, EPOCH]}, {"$cond": [_is_text(x), text, None]}]}


def _number(text: Expr, start: Expr, length: int) -> Expr:
    """The digits at `start` as a number; read behind a "1" (`08` as 108 - 100): no conversion
    of text with a leading zero is relied upon."""
    return {"$subtract": [{"$toLong": {"$concat": ["1", {"$substr": [text, start, length]}]}}, 10**length]}


def _floor_div(a: Expr, b: int) -> Expr:
    return {"$toLong": {"$floor": {"$divide": [a, b]}}}


def _text_ms(x: Expr) -> Expr:
    """A `TEXT_TIME` text as UTC milliseconds (the fraction truncated, as `to_utc` does), or null
    when its day is not in its month."""
    fraction = {"$cond": [{"$eq": [{"$substr": [x, 19, 1]}, "."]}, {"$cond": [{"$regexMatch": {"input": x, "regex": r"^.{19}\.[0-9]{6}"}}, 7, 4]}, 0]}
    return {
        "$let": {
            "vars": {
                "y": _number(x, 0, 4), "m": _number(x, 5, 2), "d": _number(x, 8, 2),
                "clock": {"$add": [
                    {"$multiply": [_number(x, 11, 2), 3_600_000]}, {"$multiply": [_number(x, 14, 2), 60_000]},
                    {"$multiply": [_number(x, 17, 2), 1000]},
                    {"$cond": [{"$eq": [{"$substr": [x, 19, 1]}, "."]}, _number(x, 20, 3), 0]},
                ]},
                "zone": {"$substr": [x, {"$add": [19, fraction]}, 6]},
            },
            "in": {
                "$let": {
                    "vars": {
                        "offset": {"$cond": [{"$in": ["$$zone", ["", "Z"]]}, 0, {"$multiply": [
                            {"$cond": [{"$eq": [{"$substr": ["$$zone", 0, 1]}, "-"]}, -60_000, 60_000]},
                            {"$add": [{"$multiply": [_number("$$zone", 1, 2), 60]}, _number("$$zone", 4, 2)]},
                        ]}]},
                        "leap": {"$and": [
                            {"$eq": [{"$mod": ["$$y", 4]}, 0]},
                            {"$or": [{"$ne": [{"$mod": ["$$y", 100]}, 0]}, {"$eq": [{"$mod": ["$$y", 400]}, 0]}]},
                        ]},
                    },
                    "in": {"$cond": [
                        {"$lte": ["$$d", {"$add": [
                            {"$arrayElemAt": [_DAYS_IN_MONTH, {"$subtract": ["$$m", 1]}]},
                            {"$cond": [{"$and": [{"$eq": ["$$m", 2]}, "$$leap"]}, 1, 0]},
                        ]}]},
                        {"$subtract": [
                            {"$add": [{"$multiply": [_days_from_civil("$$y", "$$m", "$$d"), _MS_A_DAY]}, "$$clock"]},
                            "$$offset",
                        ]},
                        None,
                    ]},
                }
            },
        }
    }  # fmt: skip


def _days_from_civil(y: Expr, m: Expr, d: Expr) -> Expr:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    year = {"$subtract": [y, {"$cond": [{"$lte": [m, 2]}, 1, 0]}]}
    return {
        "$let": {
            "vars": {"era": _floor_div(year, 400), "year": year},
            "in": {
                "$let": {
                    "vars": {
                        "yoe": {"$subtract": ["$$year", {"$multiply": ["$$era", 400]}]},
                        "doy": {"$add": [_floor_div({"$add": [{"$multiply": [153, {"$mod": [{"$add": [m, 9]}, 12]}]}, 2]}, 5), d, -1]},
                    },
                    "in": {"$toLong": {"$add": [
                        {"$multiply": ["$$era", 146_097]}, {"$multiply": ["$$yoe", 365]},
                        _floor_div("$$yoe", 4), {"$multiply": [-1, _floor_div("$$yoe", 100)]}, "$$doy", -719_468,
                    ]}},
                }
            },
        }
    }  # fmt: skip


# -- the lead -------------------------------------------------------------------------------

# What each lead is read as: its stage-history entries that are objects, as (stage, raw time).
_LEAD = {
    "stage": _field("$current_stage"),
    "value": _field("$value"),
    "engaged": _field("$engaged"),
    "since": _field("$stage_updated_at"),
    "created": _field("$created_at"),
    "entries": {
        "$map": {
            "input": {
                "$filter": {
                    "input": {"$cond": [{"$isArray": "$stage_history"}, "$stage_history", []]},
                    "as": "e",
                    "cond": _is_object("$$e"),
                }
            },
            "as": "e",
            "in": {"s": _field("$$e.to_stage"), "t": _field("$$e.changed_at")},
        }
    },
}


def _odd(ref: Callable[[str], str]) -> Expr:
    """Whether a lead (its `_LEAD` fields through `ref`) has a shape the pipeline does not sum
    as `stage_figures` would; those leads are summed in Python."""
    return {
        "$or": [
            {"$not": _one_of(ref("stage"), _is_text, _is_null)},
            {"$not": _one_of(ref("value"), _is_null, _is_bool, lambda x: {"$isNumber": x})},
            {"$not": _one_of(ref("engaged"), _is_null, _is_bool, _is_text, lambda x: {"$isNumber": x})},
            {"$not": _one_of(ref("since"), _is_null, _is_date, _is_text, _is_bool, lambda x: {"$isNumber": x})},
            _odd_text(ref("since")),
            _odd_text(ref("created")),
            {"$gt": [{"$size": {"$filter": {"input": ref("entries"), "as": "e", "cond": {"$or": [
                {"$not": _one_of("$$e.s", _is_text, _is_null)}, _odd_text("$$e.t"),
            ]}}}}, 0]},
        ]
    }  # fmt: skip


def odd_filter() -> dict[str, Any]:
    """A find filter for the leads the pipeline counts as odd (with the caller's own filter)."""
    return {"$expr": {"$let": {"vars": _LEAD, "in": _odd(lambda name: "$$" + name)}}}


def _stays() -> Expr:
    """(stage, start) of each stay, as `domain.stays.stays`: the entries with a stage and a
    time, then the current stage from stage_updated_at (else created_at) when they do not end
    there. (`domain.artisan.stage_since` does not change that: it moves stage_updated_at only
    when the last entry is already a move into the current stage.)"""
    moves = {
        "$filter": {
            "input": {"$map": {"input": "$entries", "as": "e", "in": {"s": "$$e.s", "t": _moment("$$e.t")}}},
            "as": "p",
            "cond": {"$and": [{"$ne": ["$$p.s", None]}, {"$ne": ["$$p.t", None]}]},
        }
    }
    # Python's `stage_updated_at or created_at`; a number or true there is no time, so no stay.
    truthy_since = {
        "$or": [
            _is_date("$since"),
            {"$eq": ["$since", True]},
            {"$and": [_is_text("$since"), {"$ne": ["$since", ""]}]},
            {"$and": [{"$isNumber": "$since"}, {"$ne": ["$since", 0]}]},
        ]
    }
    return {
        "$let": {
            "vars": {"moves": moves, "at": _moment({"$cond": [truthy_since, "$since", "$created"]})},
            "in": {
                "$cond": [
                    {"$and": [
                        {"$ne": ["$current", None]}, {"$ne": ["$$at", None]},
                        {"$cond": [
                            {"$eq": [{"$size": "$$moves"}, 0]}, True,
                            {"$ne": [{"$let": {"vars": {"last": {"$arrayElemAt": ["$$moves", -1]}}, "in": "$$last.s"}}, "$current"]},
                        ]},
                    ]},
                    {"$concatArrays": ["$$moves", {"$map": {"input": [0], "in": {"s": "$current", "t": "$$at"}}}]},
                    "$$moves",
                ]
            },
        }
    }  # fmt: skip


def pipeline(match: Mapping[str, Any], closed: Sequence[str], now: datetime, default_stage: str) -> list[dict[str, Any]]:
    """The aggregation: its one result document has `totals` (per current stage: leads, value,
    engaged), `days` (per stage: seconds, leads) and `odd` (how many leads it left out)."""
    now_us = Int64((now - EPOCH) // _MICROSECOND)
    # The stage named when the document has no current_stage field at all (from_document's default).
    present = {"$map": {"input": {"$objectToArray": "$$ROOT"}, "as": "f", "in": "$$f.k"}}
    stay_us = {
        "$let": {
            "vars": {"i": "$i", "n": {"$size": "$all"}, "t": "$stays.t"},
            "in": {
                "$cond": [
                    {"$lt": ["$$i", {"$subtract": ["$$n", 1]}]},
                    {"$max": [0, {"$multiply": [
                        {"$subtract": [{"$let": {"vars": {"next": {"$arrayElemAt": ["$all", {"$add": ["$$i", 1]}]}}, "in": "$$next.t"}}, "$$t"]},
                        1000,
                    ]}]},
                    {"$cond": [
                        {"$in": ["$stays.s", {"$literal": list(closed)}]}, None,
                        {"$max": [0, {"$subtract": [now_us, {"$multiply": ["$$t", 1000]}]}]},
                    ]},
                ]
            },
        }
    }  # fmt: skip
    return [
        {"$match": dict(match)},
        {"$project": {key: 1 for key in ("current_stage", "value", "engaged", "stage_history", "stage_updated_at", "created_at")}},
        {"$project": {
            **_LEAD,
            "current": {"$cond": [{"$in": ["current_stage", present]}, _field("$current_stage"), {"$literal": default_stage}]},
        }},
        {"$project": {
            "current": 1,
            "odd": _odd(lambda name: "$" + name),
            "value": {"$cond": [{"$isNumber": "$value"}, "$value", {"$cond": [{"$eq": ["$value", True]}, 1, 0]}]},
            "engaged": {"$cond": [
                {"$cond": [_is_bool("$engaged"), "$engaged", {"$cond": [
                    {"$isNumber": "$engaged"}, {"$ne": ["$engaged", 0]},
                    {"$cond": [_is_text("$engaged"), {"$ne": ["$engaged", ""]}, False]},
                ]}]},
                1, 0,
            ]},
            "stays": _stays(),
        }},
        {"$addFields": {"all": "$stays"}},
        {"$unwind": {"path": "$stays", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": True}},
        {"$project": {
            "current": 1, "odd": 1, "value": 1, "engaged": 1,
            "first": {"$lte": [_field("$i"), 0]},  # a lead's first row, or its only one (no stays)
            "stage": _field("$stays.s"),
            "us": {"$cond": [{"$eq": [_field("$i"), None]}, None, stay_us]},
        }},
        {"$facet": {
            "totals": [
                {"$match": {"first": True, "odd": False}},
                {"$group": {"_id": "$current", "leads": {"$sum": 1}, "value": {"$sum": "$value"}, "engaged": {"$sum": "$engaged"}}},
            ],
            "days": [
                {"$match": {"odd": False, "us": {"$ne": None}}},
                {"$group": {"_id": {"lead": "$_id", "stage": "$stage"}, "us": {"$sum": "$us"}}},
                {"$group": {"_id": "$_id.stage", "seconds": {"$sum": {"$divide": ["$us", 1_000_000]}}, "leads": {"$sum": 1}}},
            ],
            "odd": [{"$match": {"first": True, "odd": True}}, {"$group": {"_id": None, "leads": {"$sum": 1}}}],
        }},
    ]  # fmt: skip


def figures(result: Mapping[str, Any]) -> tuple[Figures, int]:
    """The pipeline's result document as `stage_figures`' figures, and how many odd leads it
    left to the Python pass."""
    totals = {row["_id"]: (int(row["leads"]), float(row["value"])) for row in result["totals"]}
    engaged = sum(int(row["engaged"]) for row in result["totals"])
    days = {row["_id"]: (float(row["seconds"]), int(row["leads"])) for row in result["days"]}
    odd = int(result["odd"][0]["leads"]) if result["odd"] else 0
    return (totals, engaged, days), odd


def merge(a: Figures, b: Figures) -> Figures:
    """Figures of two disjoint sets of leads as one."""
    totals = dict(a[0])
    for stage, (n, value) in b[0].items():
        was = totals.get(stage, (0, 0.0))
        totals[stage] = (was[0] + n, was[1] + value)
    days = dict(a[2])
    for stage, (seconds, n) in b[2].items():
        had = days.get(stage, (0.0, 0))
        days[stage] = (had[0] + seconds, had[1] + n)
    return totals, a[1] + b[1], days
