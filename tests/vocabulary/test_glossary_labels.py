"""The glossary's terms as the screens' labels: a term that names a label (by `labels:` or by being its word) is the
label the journey page shows, explained by its definition."""

from __future__ import annotations

from govern.orgfile.schema import TermSchema
from govern.queries.glossary import LABELS
from govern.services.common import put_setting


def test_the_glossary_can_name_every_label_the_screens_show():
    assert set(TermSchema().fields["labels"].validate.choices) == set(LABELS)


def test_the_journey_page_labels_steps_with_the_glossary_terms(example_db, web):
    ana = web("ana")
    html = ana.get("/journeys/switching-providers").get_data(as_text=True)
    # Telco Nova's glossary defines Touchpoint by its own word: the lane keeps it and explains it
    assert 'title="A specific point of contact with us' in html and ">Touchpoint and channel</span>" in html
    assert "★ moment that matters" in html
    with example_db.session_scope() as s:
        put_setting(s, "terminology", [
            {"term": "Care contact", "definition": "Where a patient meets us", "labels": "touchpoint"},
            {"term": "Route", "definition": "How the contact reaches them", "labels": "channel"},
            {"term": "Turning point", "definition": "Where trust is won or lost", "labels": "moment_that_matters"}])
        s.commit()
    html = ana.get("/journeys/switching-providers").get_data(as_text=True)
    assert 'title="Where a patient meets us">Care contact and Route</span>' in html
    assert "Touchpoint and channel" not in html.split('data-lane="touchpoint"', 1)[1][:400]
    assert 'title="Where trust is won or lost">★ Turning point' in html and "★ moment that matters" not in html
