"""The sales pipeline: ordered stages, which of them are closed, and how users name them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadcli.domain.errors import InvalidInput

DEFAULT_STAGES = (
    "New Lead",
    "Initial Contact",
    "Meeting Scheduled",
    "Proposal Sent",
    "Negotiation",
    "Closed Won",
    "Closed Lost",
)
DEFAULT_CLOSED = ("Closed Won", "Closed Lost")
DEFAULT_WON = "Closed Won"
DEFAULT_LOST = "Closed Lost"


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def slug(name: str) -> str:
    """`Closed Won` -> `closed-won`."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[str, ...] = DEFAULT_STAGES
    closed: tuple[str, ...] = DEFAULT_CLOSED
    won: str | None = DEFAULT_WON
    lost: str | None = DEFAULT_LOST
    _lookup: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise InvalidInput("pipeline: at least one stage is needed")
        for name in self.stages:
            if _CONTROLS.search(name):
                raise InvalidInput(f"pipeline: stage {name!r} holds control characters (NUL, ESC…); leads would carry them")
            for key in (name.strip().lower(), slug(name)):
                if self._lookup.setdefault(key, name) != name or self.stages.count(name) > 1:
                    # Two stages a user cannot tell apart on input (`--stage a` would pick one).
                    raise InvalidInput(f"pipeline: stage {name!r} is listed twice (stage names must differ by more than case or punctuation)")
        for name in self.closed:
            if name not in self.stages:
                raise InvalidInput(f"pipeline: closed stage {name!r} is not one of the stages")
        for role, outcome in (("won", self.won), ("lost", self.lost)):
            if outcome is not None and outcome not in self.stages:
                # else the win rate silently counts a stage no lead can be in: 0 forever
                raise InvalidInput(f"pipeline: {role} = {outcome!r} is not one of the stages ({', '.join(self.stages)})")
        if self.won is not None and self.won == self.lost:
            raise InvalidInput(f"pipeline: won and lost are both {self.won!r}; the win rate needs two different stages")

    @classmethod
    def from_config(
        cls,
        stages: Sequence[str] | None = None,
        closed: Sequence[str] | None = None,
        won: str | None = None,
        lost: str | None = None,
    ) -> Pipeline:
        stage_list = tuple(stages) if stages else DEFAULT_STAGES
        closed_list = tuple(closed) if closed is not None else tuple(s for s in DEFAULT_CLOSED if s in stage_list)
        won = won if won is not None else (DEFAULT_WON if DEFAULT_WON in stage_list else None)
        lost = lost if lost is not None else (DEFAULT_LOST if DEFAULT_LOST in stage_list else None)
        return cls(stage_list, closed_list, won, lost)

    @property
    def first(self) -> str:
        return self.stages[0]

    @property
    def open_stages(self) -> tuple[str, ...]:
        return tuple(s for s in self.stages if s not in self.closed)

    def match(self, text: str) -> str:
        """The stage a user meant: case-insensitive by name or by slug; exit 2 otherwise."""
        found = self._lookup.get(text.strip().lower()) or self._lookup.get(slug(text))
        if found is None:
            raise InvalidInput(f"unknown stage {text!r}; valid stages: {', '.join(self.stages)}")
        return found

    def is_closed(self, stage: str | None) -> bool:
        return stage in self.closed
