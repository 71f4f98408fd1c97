"""Finding 3: account takeover inside the council. Identity changes are privileged and verified."""

from __future__ import annotations

import sqlalchemy as sa

from govern.cli.support import DEMO_PASSWORD
from govern.model import OutboxMessage, Person
from govern.notifications import SIGN_IN_CHANGED
from govern.policy import ACTIONS, seat_action

from .conftest import assert_error, web_sign_in


def _signs_in(api, handle, password) -> bool:
    return web_sign_in(api.app, handle, password)[1].status_code == 302


def test_a_manager_cannot_set_the_leads_password(api):
    assert_error(api.call("PUT", "/people/ana/password", as_="marco", json={"password": "owned-by-marco"}), 403)
    assert _signs_in(api, "ana", DEMO_PASSWORD)
    assert not _signs_in(api, "ana", "owned-by-marco")


def test_changing_your_own_password_needs_the_current_one(api):
    # A stolen API token alone cannot turn into a password (and with it a web session).
    assert_error(api.call("PUT", "/people/marco/password", as_="marco", json={"password": "token-holder"}), 403)
    assert_error(api.call("PUT", "/people/marco/password", as_="marco",
                          json={"password": "token-holder", "current_password": "a guess"}), 403)
    assert api.call("PUT", "/people/marco/password", as_="marco",
                    json={"password": "marco's own", "current_password": DEMO_PASSWORD}).status_code == 204
    assert _signs_in(api, "marco", "marco's own")


def test_an_admin_setting_someones_password_forces_a_reset_and_tells_them(api):
    assert api.call("PUT", "/people/tom/password", as_="ana", json={"password": "temporary-1"}).status_code == 204
    with api.db.session_scope() as s:
        tom = s.scalar(sa.select(Person).where(Person.handle == "tom"))
        assert tom.password_reset_required is True
        notices = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == SIGN_IN_CHANGED)).all()
        assert [m.payload["audience"]["people"] for m in notices] == [["tom"]]
        assert notices[0].payload["facts"]["by"] == "ana"
    # Signing in with the temporary password leads only to choosing a new one.
    web, answer = web_sign_in(api.app, "tom", "temporary-1")
    assert answer.status_code == 302 and "/account/password" in answer.headers["Location"]
    assert "/account/password" in web.get("/board").headers.get("Location", "")
    assert web.get("/account/password").status_code == 200
    assert web.post("/account/password", {"current_password": "temporary-1",
                                          "new_password": "tom's own choice"}).status_code == 302
    assert web.get("/board").status_code == 200
    assert _signs_in(api, "tom", "tom's own choice")


def test_nobody_seats_themselves(api):
    assert_error(api.post("/council/seats", as_="marco", json={"person": "marco", "role": "lead"}), 403)
    assert_error(api.post("/council/seats", as_="marco", json={"person": "marco", "role": "coordinator",
                                                               "journey": "getting-help"}), 403)


def test_a_manager_cannot_seat_a_lead_or_make_an_admin(api):
    assert_error(api.post("/council/seats", as_="marco", json={"person": "tom", "role": "lead"}), 403)
    assert_error(api.patch("/people/tom", as_="marco", json={"is_admin": True}), 403)
    assert_error(api.patch("/people/marco", as_="marco", json={"is_admin": True}), 403)
    assert api.post("/council/seats", as_="marco", json={"person": "tom", "role": "supporter",
                                                         "journey": "getting-help"}).status_code == 201


def test_nobody_raises_their_own_role_even_an_admin(api):
    assert_error(api.post("/council/seats", as_="ana", json={"person": "ana", "role": "manager"}), 403)
    assert_error(api.patch("/people/ana", as_="ana", json={"active": False}), 403)


def test_who_may_grant_which_role_is_in_the_permission_table():
    for role in ("lead", "manager", "coordinator", "supporter"):
        assert seat_action(role) in ACTIONS
    assert set(ACTIONS["council.seat_lead"][1]) == {"admin"}
    assert "manager" not in ACTIONS["council.seat_manager"][1]
    assert set(ACTIONS["person.set_password"][1]) == {"admin"}


def test_governance_as_code_grants_no_more_than_the_applier_could_by_hand(api):
    import yaml

    from govern.orgfile.load import examples_dir

    doc = yaml.safe_load((examples_dir() / "telecom" / "govern.yaml").read_text())
    doc["council"].append({"person": "marco", "role": "lead"})
    answer = api.post("/config/apply", as_="marco", json={"yaml": yaml.safe_dump(doc), "dry_run": False})
    assert_error(answer, 403)
    doc["council"][-1] = {"person": "tom", "role": "lead"}
    assert_error(api.post("/config/apply", as_="marco", json={"yaml": yaml.safe_dump(doc), "dry_run": True}), 403)
    doc = yaml.safe_load((examples_dir() / "telecom" / "govern.yaml").read_text())
    next(p for p in doc["people"] if p["handle"] == "marco")["admin"] = True
    assert_error(api.post("/config/apply", as_="marco", json={"yaml": yaml.safe_dump(doc), "dry_run": True}), 403)
