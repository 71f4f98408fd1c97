"""The journey map (issue 25, part 1): stages as columns, steps in order, lanes an organisation orders and hides in
govern.yaml and a reader toggles, the emotion curve (with persona lines derived from evidence sentiment), evidence,
opportunities and KPIs on their steps, zoom into sub-journeys and a breadcrumb back; laid out from 390 to 1920 px."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
import yaml

from govern.model import Insight, Opportunity, Persona, Step, insight_step, opportunity_insight
from govern.orgfile.load import apply_text, example_text
from govern.policy import Actor
from govern.services.common import load_actor
from govern.services.journeys import update_step
from tests.web.conftest import screenshot

HOSTILE = "</svg><script>alert('x')</script> & \"Port\" <b>"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _step_html(html: str, step_key: str) -> str:
    """The markup of one step of the map (its <li>, up to the next step or the end of its stage)."""
    start = html.index(f'data-step="{step_key}"')
    ends = [i for i in (html.find('<li class="jmap-step', start), html.find("</ol>", start)) if i != -1]
    return html[start:min(ends)]


def _lanes_of(html: str, step_key: str) -> list[str]:
    return re.findall(r'data-lane="([a-z]+)"', _step_html(html, step_key))


def test_the_map_draws_every_lane_from_the_example_organisations_data(web, example_db):
    html = web("ana").get("/journeys/switching-providers").get_data(as_text=True)
    with example_db.session_scope() as s:
        steps = {st.key: st for st in s.scalars(sa.select(Step).join(Step.journey)
                                               .where(Step.journey.has(key="switching-providers")))}
        counted = dict(s.execute(sa.select(Step.key, sa.func.count()).join(insight_step, insight_step.c.step_id == Step.id)
                                 .join(Insight, Insight.id == insight_step.c.insight_id)
                                 .where(Step.id.in_([st.id for st in steps.values()]),
                                        Insight.merged_into_id.is_(None)).group_by(Step.key)).all())
        with_opps = set(s.scalars(sa.select(Step.key).join(insight_step, insight_step.c.step_id == Step.id)
                                  .join(opportunity_insight,
                                        opportunity_insight.c.insight_id == insight_step.c.insight_id)
                                  .where(Step.id.in_([st.id for st in steps.values()]))))
        opp_keys = {key: [f"OPP-{n}" for n in s.scalars(
            sa.select(Opportunity.number).join(opportunity_insight,
                                               opportunity_insight.c.opportunity_id == Opportunity.id)
            .join(insight_step, insight_step.c.insight_id == opportunity_insight.c.insight_id)
            .where(insight_step.c.step_id == steps[key].id).distinct())] for key in with_opps}
    # Stages as columns, steps in their order, every lane in the default order under each step.
    assert re.findall(r'<h3 id="stage-\d+">([^<]+)</h3>', html) == ["Before", "During", "After"]
    assert _lanes_of(html, "port-number") == ["touchpoint", "emotion", "evidence", "opportunities", "kpis"]
    assert counted and with_opps, "the example has evidence and opportunities on its steps"
    for key, count in counted.items():
        step = _text(_step_html(html, key))
        assert f"{count} insight{'' if count == 1 else 's'}" in step, key
        assert re.search(r"evidence heat [1-5] of 5", _step_html(html, key)), key
    for key in steps:
        if key not in counted:
            assert "0 insights" in _text(_step_html(html, key)) and "no evidence yet" in _text(_step_html(html, key))
    for key, keys in opp_keys.items():
        step = _text(_step_html(html, key))
        for opp in keys[:5]:
            assert opp in step, (key, opp)
        assert "score " in step or "not scored" in step
    # The KPI measuring a step sits on it: Porting CSAT on "Port number", with its latest value, trend and target.
    port = _text(_step_html(html, "port-number"))
    assert "Porting CSAT" in port and "target" in port
    assert re.search(r"(improving|getting worse|no change|one measurement, no trend yet|not measured)", port)
    # Touchpoint and channel, the emotion in numbers and words, the curve as SVG.
    compare = steps["compare-offers"]
    assert f"{compare.touchpoint} · {compare.channel}" in _text(_step_html(html, "compare-offers"))
    assert "+0.5 positive" in _text(_step_html(html, "compare-offers"))
    assert "class='emotion-curve'" in html and "<desc id='emotion-d'>" in html
    assert "★ moment that matters" in html


def test_a_step_without_a_touchpoint_shows_no_dangling_channel(web, example_db):
    with example_db.session_scope() as s:
        update_step(s, load_actor(s, "ana"), "switching-providers/port-number", touchpoint=None, channel="web")
    step = _text(_step_html(web("ana").get("/journeys/switching-providers").get_data(as_text=True), "port-number"))
    assert "· web" not in step and " web " in step


def test_persona_lines_come_from_the_sentiment_of_each_personas_evidence(web, example_db):
    with example_db.session_scope() as s:
        persona = s.scalar(sa.select(Persona).where(Persona.key == "switcher"))
        step = s.scalar(sa.select(Step).where(Step.key == "port-number", Step.journey.has(key="switching-providers")))
        insight = s.scalar(sa.select(Insight).join(insight_step, insight_step.c.insight_id == Insight.id)
                           .where(insight_step.c.step_id == step.id).limit(1))
        insight.sentiment = -1.5
        if persona not in insight.personas:
            insight.personas.append(persona)
        s.commit()
    html = web("ana").get("/journeys/switching-providers").get_data(as_text=True)
    assert "persona-dot" in html
    legend = _text(html[html.index('data-testid="persona-legend"'):])
    assert "from the average sentiment of each persona's evidence" in legend and persona.name in legend


def test_a_hostile_step_name_is_escaped_in_the_html_and_in_the_svg(web, example_db):
    with example_db.session_scope() as s:
        update_step(s, load_actor(s, "ana"), "switching-providers/port-number", name=HOSTILE)
    html = web("ana").get("/journeys/switching-providers").get_data(as_text=True)
    assert "<script>alert" not in html and "</svg><script>" not in html
    svg = html[html.index("<svg viewBox='0 0"):html.index("</svg>", html.index("<svg viewBox='0 0")) + 6]
    assert "&lt;/svg&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Port&#34; &lt;b&gt;" in svg
    assert svg.count("<svg") == 1 and "<script" not in svg and "<b>" not in svg


def _with_map(lanes: list[str]) -> str:
    doc = yaml.safe_load(example_text("telecom", "govern.yaml"))
    doc["map"] = {"lanes": lanes}
    return yaml.safe_dump(doc, sort_keys=False)


def test_lanes_are_ordered_and_hidden_by_govern_yaml_and_toggled_by_the_reader(web, example_db):
    with example_db.session_scope() as s:
        plan = apply_text(s, Actor.system_actor("test"), _with_map(["kpis", "emotion"]))
        assert any(c.kind == "setting" and c.key == "map" for c in plan.changes)
    ana = web("ana")
    html = ana.get("/journeys/switching-providers").get_data(as_text=True)
    assert _lanes_of(html, "port-number") == ["kpis", "emotion"]
    # The reader's switches list every lane, the organisation's first; hidden ones unticked.
    switches = re.findall(r'name="lane" value="([a-z]+)"( checked)?', html)
    assert switches == [("kpis", " checked"), ("emotion", " checked"), ("touchpoint", ""), ("evidence", ""),
                        ("opportunities", "")]
    # A reader shows a hidden lane and hides one (the form's GET, no script needed): the organisation's order holds.
    toggled = ana.get("/journeys/switching-providers?lanes=set&lane=evidence&lane=kpis").get_data(as_text=True)
    assert _lanes_of(toggled, "port-number") == ["kpis", "evidence"]
    assert "emotion-curve" not in toggled
    assert _lanes_of(ana.get("/journeys/switching-providers?lanes=touchpoint").get_data(as_text=True),
                     "port-number") == ["touchpoint"]
    # Unticking everything shows the steps alone; an unknown lane is a clear 4xx, not a traceback.
    assert _lanes_of(ana.get("/journeys/switching-providers?lanes=set").get_data(as_text=True), "port-number") == []
    bad = ana.get("/journeys/switching-providers?lanes=set&lane=moods")
    assert 400 <= bad.status_code < 500 and "unknown lane &#39;moods&#39;" in bad.get_data(as_text=True)


def test_govern_yaml_refuses_an_unknown_or_repeated_lane(example_db):
    from govern.errors import InvalidInput

    with example_db.session_scope() as s:
        for lanes, message in ((["moods"], "map.lanes[0]"), (["kpis", "kpis"], "a lane is named twice")):
            with pytest.raises(InvalidInput) as caught:
                apply_text(s, Actor.system_actor("test"), _with_map(lanes))
            assert message in str(caught.value.details) + caught.value.message


def test_a_step_detailed_by_a_sub_journey_zooms_into_it_and_a_breadcrumb_leads_back(web, example_db):
    ana = web("ana")
    master = ana.get("/journeys/being-a-customer").get_data(as_text=True)
    join = _step_html(master, "join")
    assert '<a href="/journeys/switching-providers" data-testid="zoom">⤵ zoom into Switching providers</a>' in join
    micro = ana.get("/journeys/activating-my-sim").get_data(as_text=True)
    start = micro.index('data-testid="breadcrumb"')
    crumbs = micro[start:micro.index("</nav>", start)]
    with example_db.session_scope() as s:
        parent_step = s.scalar(sa.select(Step.id).where(Step.key == "activate-sim",
                                                        Step.journey.has(key="switching-providers")))
    assert re.findall(r'href="([^"]+)">([^<]+)</a>', crumbs) == [
        ("/journeys", "Journeys"), ("/journeys/being-a-customer", "Being a Telco Nova customer"),
        (f"/journeys/switching-providers#step-{parent_step}", "Switching providers")]
    assert '<span aria-current="page">Activating my SIM</span>' in crumbs


def test_a_sub_journey_without_an_owner_is_flagged_on_the_step_it_details(web, example_db):
    from govern.model import Journey

    with example_db.session_scope() as s:
        s.scalar(sa.select(Journey).where(Journey.key == "switching-providers")).owner_id = None
        s.commit()
    join = _text(_step_html(web("ana").get("/journeys/being-a-customer").get_data(as_text=True), "join"))
    assert "ownership gap: Switching providers has no owner" in join


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(390, 844), (1440, 900), (1920, 1080)])
@pytest.mark.parametrize("journey", ["being-a-customer", "switching-providers"])
def test_the_map_fits_the_window_and_its_last_stage_can_be_seen(page_as, width, height, journey):
    page = page_as("ana", width=width, height=height)
    page.goto(f"/journeys/{journey}")
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    last = page.evaluate("""() => {
        const stages = document.querySelectorAll('[data-testid=map-stage]');
        const last = stages[stages.length - 1], scroller = document.querySelector('[data-testid=journey-map]');
        const r = last.getBoundingClientRect(), s = scroller.getBoundingClientRect();
        return {right: r.right, inner: window.innerWidth, scrollerRight: s.right,
                scrolls: scroller.scrollWidth > scroller.clientWidth, pageWidth: document.querySelector('main').clientWidth};
    }""")
    screenshot(page, f"journey-map-{journey}-{width}")
    assert fits, f"the page scrolls sideways at {width} px"
    if last["scrolls"]:  # the map may scroll inside its region only when the page has no room left
        page.evaluate("document.querySelector('[data-testid=journey-map]').scrollLeft = 1e6")
        right = page.evaluate("""document.querySelectorAll('[data-testid=map-stage]')[
            document.querySelectorAll('[data-testid=map-stage]').length - 1].getBoundingClientRect().right""")
        assert right <= last["scrollerRight"] + 1
        assert width < 1920, "at 1920 px the map uses the page's width instead of scrolling"
    else:
        assert last["right"] <= last["inner"]
    assert not page.console_errors


def _give_personas_sentiment(example_db) -> None:
    """Evidence of two personas with sentiment on two steps each (the example's evidence has none per persona)."""
    with example_db.session_scope() as s:
        personas = {p.key: p for p in s.scalars(sa.select(Persona))}
        for step_key, values in (("compare-offers", {"switcher": 1.0, "digital-native": -0.5}),
                                 ("port-number", {"switcher": -2.0, "digital-native": -1.0})):
            step = s.scalar(sa.select(Step).where(Step.key == step_key,
                                                  Step.journey.has(key="switching-providers")))
            for key, value in values.items():
                insight = Insight(number=9000 + len(s.new) + step.id * 10 + len(key), text=f"{key} on {step_key}",
                                  source="interviews", kind="quote", observed_on=dt.date(2026, 11, 1),
                                  sentiment=value, steps=[step], personas=[personas[key]])
                s.add(insight)
        s.commit()


@pytest.mark.browser
def test_persona_lines_and_lane_switches_in_the_browser(page_as, example_db):
    _give_personas_sentiment(example_db)
    page = page_as("ana", width=1440, height=900)
    page.goto("/journeys/switching-providers")
    assert page.locator("[data-testid=emotion-curve] path.persona-dot").count() == 4
    screenshot(page, "journey-map-personas-1440")
    # Unticking a lane reloads the map without it (the small script submits the GET form; the button does without).
    page.get_by_role("checkbox", name="Opportunities").uncheck()
    page.wait_for_url("**lanes=set**")
    assert page.locator("[data-lane=opportunities]").count() == 0
    assert page.locator("[data-lane=evidence]").count() > 0
    assert not page.console_errors
