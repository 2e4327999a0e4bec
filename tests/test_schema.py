"""The lead schema (domain/schema.py) is the one declaration of each field and filter: a new
filter over an existing op is one entry there, and it is then an option of every filtering
command, a LeadQuery filter, answered by both stores and matched by `watch`.

The test adds one entry to the schema's source text (as an engineer would) and runs leadcli on
that source in a subprocess, against each store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from leadmaker import lead, seed

from leadcli.domain import schema
from leadcli.domain.lead import LEAD_FIELDS

SCHEMA = ROOT / "leadcli" / "domain" / "schema.py"
ANCHOR = '    Filter("idle_since", "idle_before", ("last_contacted", "created_at"), "internal"),\n'
# `phone` has no column in the SQLite store: its translation reads the stored document.
ENTRY = '    Filter("phone", "equals", ("phone",), "text", ("--phone",), help="Only leads with this phone number."),\n'

RUN = """
import sys, types
source = open(sys.argv[1], encoding="utf-8").read()
assert source.count(sys.argv[2]) == 1, "the anchor entry moved: update the test"
module = types.ModuleType("leadcli.domain.schema")
module.__file__ = sys.argv[1]
sys.modules[module.__name__] = module
exec(compile(source.replace(sys.argv[2], sys.argv[2] + sys.argv[3]), sys.argv[1], "exec"), module.__dict__)
if sys.argv[4] == "match":
    from leadcli.domain.matching import matches
    from leadcli.domain.query import LeadQuery
    leads = [{"phone": "+1 555 0100"}, {"phone": "+44 20 7946"}, {}]
    print([matches(x, LeadQuery(phone="+1 555 0100")) for x in leads])
    sys.exit(0)
from leadcli.cli import run
if sys.argv[4] == "helps":  # several commands' help in one process: {command: help text}
    import contextlib, io, json
    shown = {}
    for command in sys.argv[5:]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run([command, "--help"])
        shown[command] = out.getvalue()
    print(json.dumps(shown))
    sys.exit(0)
sys.exit(run(sys.argv[4:]))
"""


def with_entry(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", RUN, str(SCHEMA), ANCHOR, ENTRY, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_new_filter_is_one_schema_entry_on_both_stores(store_uri: str) -> None:
    seed(store_uri, [lead("Ada", phone="+1 555 0100"), lead("Grace", phone="+44 20 7946"), lead("Alan")])

    listed = with_entry("--db", store_uri, "list", "--phone", "+1 555 0100", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [item["name"] for item in json.loads(listed.stdout)] == ["Ada"]
    counted = with_entry("--db", store_uri, "count", "--phone", "+44 20 7946", "--stage", "new-lead")
    assert (counted.returncode, counted.stdout) == (0, "1\n"), counted.stderr
    # Literal: the text is data on both stores, not a pattern.
    assert with_entry("--db", store_uri, "count", "--phone", ".*").stdout == "0\n"


def test_a_new_filter_is_offered_by_every_filtering_command_and_matched_in_watch() -> None:
    commands = ("list", "search", "count", "export", "stats", "stale", "watch")
    helps = with_entry("helps", *commands)
    assert helps.returncode == 0, helps.stderr
    shown = json.loads(helps.stdout)
    for command in commands:
        words = " ".join(shown[command].replace("│", " ").split())  # the help's box drawn around wrapped lines
        assert "--phone" in words and "Only leads with this phone number" in words, command
    assert with_entry("match").stdout == "[True, False, False]\n"


def test_without_the_entry_there_is_no_such_option() -> None:
    """The entry above is what makes the option: leadcli as shipped refuses it."""
    from conftest import invoke

    assert invoke("list", "--phone", "x").code == 2


def test_every_field_and_filter_is_declared_whole() -> None:
    """What the other layers read off a declaration is there: an add/edit option has help, a
    filter's fields are lead fields, each text field a settable one has a length limit."""
    assert LEAD_FIELDS == tuple(f.name for f in schema.FIELDS)
    for field in schema.FIELDS:
        if field.flag:
            assert field.settable and field.help, field.name
        if field.kind == "text" and field.settable:
            assert field.max_length, field.name
    for spec in schema.FILTERS:
        assert set(spec.fields) <= set(LEAD_FIELDS), spec.name
        assert bool(spec.flags) == (spec.value != "internal"), spec.name
        if spec.flags:
            assert spec.help, spec.name


@pytest.mark.parametrize("field", [f for f in schema.FIELDS if f.web is not None], ids=lambda f: f.name)
def test_the_web_app_rules_name_the_fields_own_flag(field: schema.Field) -> None:
    from leadcli.domain.artisan import READ_RULES

    assert READ_RULES[field.name].flag == field.flag.split("/")[0]
