"""Realistic synthetic leads for benchmarks: deterministic for a seed, fast to make in bulk."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from leadcli.domain.pipeline import DEFAULT_STAGES

FIRST = (
    "Ada Grace Alan Linus Margaret Barbara Ken Dennis Frances Edsger Donald Radia Tim Vint Katherine "
    "Hedy Sophie Omar Priya Wei Yuki Lars Ingrid Mateo Lucía Zoë Chloé Björn Aisha Kwame Olga Ivan "
    "Noah Emma Liam Olivia Mia Lucas Amir Fatima"
).split()
LAST = (
    "Lovelace Hopper Turing Torvalds Hamilton Liskov Thompson Ritchie Allen Dijkstra Knuth Perlman "
    "Berners-Lee Cerf Johnson Lamarr Wilson Haddad Patel Zhang Tanaka Nilsson Berg Garcia Fernández "
    "Müller O'Brien Smith Jones Brown Nguyen Kowalski Rossi Dubois Novak Silva Kim Cohen Ali Okafor"
).split()
COMPANY_A = "Acme Globex Initech Umbrella Hooli Stark Wayne Wonka Cyberdyne Soylent Tyrell Aperture Vandelay Pied Nakatomi".split()
COMPANY_B = "Industries Corp Labs Systems GmbH Ltd Partners Analytics Robotics Logistics Foods Media".split()
OWNERS = "ada grace linus margaret ken dennis frances tim".split()
SOURCES = "web referral event cold-call linkedin partner import".split()
TAGS = "vip enterprise smb renewal trial churn-risk priority partner q3 q4".split()
NOTES = (
    "Asked for pricing", "Wants a demo next week", "Budget approved (50%)", "Call back after the holidays",
    "Interested in the enterprise plan", "Met at the trade show", "Decision maker: CTO", None, None, None,
)
STAGE_WEIGHTS = (30, 20, 15, 12, 8, 8, 7)


def make_leads(n: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=1000).total_seconds())
    leads = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = start + timedelta(seconds=rng.randrange(span), milliseconds=rng.randrange(1000))
        stage = rng.choices(DEFAULT_STAGES, STAGE_WEIGHTS)[0]
        contacted = created + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.7 else None
        updated = max(created, contacted or created) + timedelta(hours=rng.randrange(0, 500))
        engaged = rng.random() < 0.4
        history = [{"from_stage": None, "to_stage": "New Lead", "changed_at": created, "by": "import", "notes": None}]
        if stage != "New Lead":
            history.append({"from_stage": "New Lead", "to_stage": stage, "changed_at": updated, "by": rng.choice(OWNERS), "notes": None})
        leads.append(
            {
                "id": f"{int(created.timestamp()):08x}{i:016x}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}.{i}@example.com".replace("'", ""),
                "company": f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}",
                "phone": f"+1 555 {rng.randrange(10**6, 10**7)}",
                "status": "Engaged" if engaged else "Not Engaged",
                "engaged": engaged,
                "current_stage": stage,
                "stage_updated_at": updated,
                "owner": rng.choice(OWNERS),
                "source": rng.choice(SOURCES),
                "tags": rng.sample(TAGS, rng.randrange(0, 3)),
                "value": float(rng.randrange(5, 500) * 100) if rng.random() < 0.8 else None,
                "notes": rng.choice(NOTES),
                "follow_up_at": updated + timedelta(days=rng.randrange(1, 30)) if rng.random() < 0.5 else None,
                "last_contacted": contacted,
                "created_at": created,
                "updated_at": updated,
                "stage_history": history,
                "fields": {},
                "version": 1,
            }
        )
    return leads
