"""A small organisation for the lifecycle's service tests: scenario 1's two journeys, their owners and the council."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from govern.model import (
    CouncilSeat, Insight, Journey, Kpi, KpiMeasurement, Opportunity, OpportunityKpi, OpportunityTransition, Person,
    ScoreInput, Solution, Step,
)
from govern.services.common import load_actor, put_setting
from govern.workflows.definition import resolve_lifecycle


@dataclass
class Org:
    session: object
    people: dict = field(default_factory=dict)
    journeys: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    insights: list = field(default_factory=list)
    kpis: dict = field(default_factory=dict)
    numbers: int = 0

    def actor(self, handle):
        return load_actor(self.session, handle)

    def person(self, handle):
        return self.people[handle]

    def opportunity(self, *, state=None, insights=2, journeys=("switching-providers", "moving-house"),
                    owner="lotte", solutions=2, scored=True, kpis=("porting-csat",), lifecycle="default",
                    title="How might we keep switchers informed while their number ports?"):
        s = self.session
        self.numbers += 1
        lifecycle_state = state or ("research" if lifecycle == "default" else "problem_discovery")
        opp = Opportunity(number=self.numbers, title=title, lifecycle=lifecycle, state=lifecycle_state,
                          owner_id=self.people[owner].id if owner else None)
        opp.journeys = [self.journeys[k] for k in journeys]
        opp.insights = list(self.insights[:insights])
        for i in range(solutions):
            opp.solutions.append(Solution(title=f"solution {i + 1}"))
        if scored:
            for name, value in (("reach", 1000), ("impact", 2), ("confidence", 80), ("effort", 2)):
                opp.score_inputs.append(ScoreInput(name=name, value=value))
        for key in kpis:
            opp.kpi_links.append(OpportunityKpi(kpi=self.kpis[key]))
        s.add(opp)
        s.flush()
        s.add(OpportunityTransition(opportunity_id=opp.id, trigger="create", from_state=None, to_state=opp.state))
        s.commit()
        return opp


def use_lifecycle(session, name_or_section):
    put_setting(session, "lifecycle.current", resolve_lifecycle(name_or_section))
    session.commit()


@pytest.fixture
def org(session) -> Org:
    o = Org(session)
    for handle in ("lotte", "ana", "lea", "max", "mia", "mo", "ruben", "pim"):
        o.people[handle] = Person(handle=handle, name=handle.title(), email=f"{handle}@example.org")
    session.add_all(o.people.values())
    session.flush()
    for key, owner in (("switching-providers", "lotte"), ("moving-house", "ana"), ("paying-my-bill", "pim")):
        j = Journey(key=key, name=key.replace("-", " ").title(), level="macro", owner_id=o.people[owner].id,
                    slack_channel=f"#j-{key}")
        session.add(j)
        o.journeys[key] = j
    session.flush()
    for key in ("switching-providers", "moving-house"):
        step = Step(journey_id=o.journeys[key].id, key="port-number", name="Port my number")
        session.add(step)
        o.steps[key] = step
    session.flush()
    seats = [("lea", "lead", None), ("max", "manager", None), ("mia", "manager", None), ("mo", "manager", None),
             ("lotte", "coordinator", "switching-providers"), ("ruben", "supporter", "paying-my-bill")]
    for handle, role, journey in seats:
        session.add(CouncilSeat(person_id=o.people[handle].id, role=role,
                                journey_id=o.journeys[journey].id if journey else None))
    texts = [("I had no phone for my first week in the new house", "interview", ["moving-house"]),
             ("Porting took 9 days, nobody told me why", "tickets", ["switching-providers", "moving-house"]),
             ("Where is my number? I moved providers a week ago", "survey", ["switching-providers"])]
    for n, (text, source, journeys) in enumerate(texts, start=1):
        insight = Insight(number=n, text=text, source=source, kind="ticket", observed_on=dt.date(2026, 11, 2))
        insight.steps = [o.steps[k] for k in journeys]
        session.add(insight)
        o.insights.append(insight)
    kpi = Kpi(key="porting-csat", name="Porting CSAT", kind="cx", scale="csat5", direction="higher", target=3.8,
              journey_id=o.journeys["switching-providers"].id)
    kpi.measurements.append(KpiMeasurement(value=3.1, measured_at=dt.datetime(2026, 11, 1)))
    session.add(kpi)
    o.kpis["porting-csat"] = kpi
    session.commit()
    use_lifecycle(session, "default")
    return o
