"""KPI freshness (issue 24 part 3): a KPI older than its cadence is stale, on every page that shows it, by one rule."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from marshmallow import ValidationError

from govern.maturity import maturity_reading
from govern.model import Kpi, KpiMeasurement, utcnow
from govern.orgfile.schema import KpiSchema
from govern.queries.freshness import cadence_days, freshness_of, is_stale
from govern.rituals.agenda import kpis_section
from tests.api.test_browser_session_writes import sign_in

NOW = utcnow().replace(microsecond=0)  # the pages read the real clock


def test_a_kpi_is_stale_once_its_latest_measurement_is_older_than_its_cadence_and_a_grace():
    assert cadence_days("monthly") == 31 and cadence_days("weekly") == 7 and cadence_days(14) == 14
    assert not is_stale(NOW - dt.timedelta(days=38), 31, NOW)  # monthly: 31 days and a grace of 7
    assert is_stale(NOW - dt.timedelta(days=39), 31, NOW)
    assert is_stale(None, 7, NOW)  # never measured
    assert not is_stale(None, None, NOW)  # no cadence: never called stale
    with pytest.raises(ValueError, match="must be one of daily, weekly, monthly, quarterly, yearly"):
        cadence_days("fortnightly")


def test_govern_yaml_names_a_bad_cadence():
    base = {"key": "k", "name": "K", "kind": "cx", "scale": "csat5"}
    assert KpiSchema().load({**base, "cadence": "quarterly"})["cadence"] == "quarterly"
    with pytest.raises(ValidationError) as caught:
        KpiSchema().load({**base, "cadence": "fortnightly"})
    assert "fortnightly" in str(caught.value.messages["cadence"])
    with pytest.raises(ValidationError):
        KpiSchema().load({**base, "cadence": 0})


@pytest.fixture
def stale_csat(example_db):
    """Porting CSAT is measured monthly; its latest measurement is two months old. Porting tickets is weekly and fresh."""
    with example_db.session_scope() as s:
        csat = s.scalar(sa.select(Kpi).where(Kpi.key == "porting-csat"))
        tickets = s.scalar(sa.select(Kpi).where(Kpi.key == "porting-tickets"))
        csat.cadence_days, tickets.cadence_days = 31, 7
        s.execute(sa.delete(KpiMeasurement).where(KpiMeasurement.kpi_id == csat.id,
                                                  KpiMeasurement.measured_at > NOW - dt.timedelta(days=60)))
        s.add(KpiMeasurement(kpi_id=csat.id, value=3.4, measured_at=NOW - dt.timedelta(days=60)))
        s.add(KpiMeasurement(kpi_id=tickets.id, value=300, measured_at=NOW - dt.timedelta(days=2)))
        s.commit()
        yield {"csat": csat.id, "tickets": tickets.id}


def test_the_agenda_the_maturity_reading_and_the_pages_flag_the_stale_kpi(example_db, example_client, stale_csat):
    with example_db.session_scope() as s:
        kpis = s.scalars(sa.select(Kpi).where(Kpi.id.in_(stale_csat.values()))).all()
        fresh = freshness_of(s, kpis, NOW)
        assert (fresh[stale_csat["csat"]].stale, fresh[stale_csat["tickets"]].stale) == (True, False)
        expected = f"stale: measured monthly, last on {(NOW - dt.timedelta(days=60)).date().isoformat()}"
        assert fresh[stale_csat["csat"]].text == expected

        items = {i["ref"]: i for i in kpis_section(s, None, NOW, None)}
        assert items["porting-csat"]["stale"] is True and items["porting-csat"]["text"].endswith(expected)
        assert items.get("porting-tickets", {}).get("stale") in (None, False)

        # Measured within 90 days but stale: it does not count as measured.
        reading = maturity_reading(s, now=NOW)
        assert reading.counts["kpis"]["stale"] == 1
        with_cadence_off = s.scalar(sa.select(Kpi).where(Kpi.id == stale_csat["csat"]))
        with_cadence_off.cadence_days = None
        s.flush()
        assert maturity_reading(s, now=NOW).counts["kpis"]["measured_recently"] == (
            reading.counts["kpis"]["measured_recently"] + 1)
        s.rollback()

    sign_in(example_client, example_db, "lotte")
    kpi_page = example_client.get("/kpis/porting-csat/measurements").get_data(as_text=True)
    assert "Stale: measured monthly" in kpi_page
    assert "Stale" not in example_client.get("/kpis/porting-tickets/measurements").get_data(as_text=True)
    journey = example_client.get("/journeys/switching-providers").get_data(as_text=True)
    assert "stale: measured monthly" in journey
