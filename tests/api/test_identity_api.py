"""Who you are, personal API tokens (shown once, stored hashed, revocable, last used) and sign-in passwords."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import ApiToken, Person
from govern.services.people import authenticate

from .conftest import assert_error


def test_a_token_is_shown_once_listed_by_prefix_and_stops_working_when_revoked(api):
    created = api.post("/tokens", as_="femke", json={"name": "laptop"})
    assert created.status_code == 201
    token = created.get_json()
    assert token["secret"].startswith("gov_") and token["secret"].startswith(token["prefix"])
    with api.db.session_scope() as s:
        stored = s.get(ApiToken, token["id"])
        assert stored.token_hash != token["secret"] and token["secret"] not in stored.token_hash

    mine = {"Authorization": f"Bearer {token['secret']}"}
    assert api.get("/me", headers=mine).get_json()["handle"] == "femke"
    listed = {t["name"]: t for t in api.get("/tokens", as_="femke").get_json()}
    assert listed["laptop"]["prefix"] == token["prefix"] and listed["laptop"]["last_used_at"]
    assert all("secret" not in t for t in listed.values())

    assert_error(api.delete(f"/tokens/{token['id']}", as_="priya"), 404)  # not priya's to revoke
    revoked = api.delete(f"/tokens/{token['id']}", as_="femke")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert_error(api.get("/me", headers=mine), 401, "unauthenticated")


def test_me_names_roles_and_the_journeys_each_scoped_role_covers(api, viewer):
    me = api.get("/me", as_="femke").get_json()
    assert me["roles"] == ["coordinator", "owner", "viewer"]
    assert me["scopes"]["coordinator"] == ["flagging-wrong-charges", "paying-my-bill", "setting-up-direct-debit",
                                           "understanding-my-bill"]
    assert "opportunity.create" in me["may"] and "transition.approve" in me["may"]
    assert me["person"]["seats"] == [{"id": me["person"]["seats"][0]["id"], "journey": "paying-my-bill",
                                      "person": "femke", "role": "coordinator"}]
    plain = api.get("/me", as_=viewer).get_json()
    assert plain["roles"] == ["viewer"] and plain["may"] == ["read", "token.manage_own"]


def test_the_web_session_signs_in_api_calls_too(api):
    with api.db.session_scope() as s:
        person_id = s.scalar(sa.select(Person.id).where(Person.handle == "marco"))
        version = s.scalar(sa.select(Person.session_version).where(Person.handle == "marco"))
    with api.client.session_transaction() as web:
        web["person_id"] = person_id
        web["session_version"] = version  # the session version a sign-in would record
    assert api.get("/me").get_json()["roles"] == ["manager", "owner", "viewer"]


def test_people_set_their_own_password_and_admins_set_anyones(api, viewer):
    # vera has no password yet: an administrator sets one, then she changes it giving the current one.
    assert_error(api.call("PUT", f"/people/{viewer}/password", as_=viewer, json={"password": "correct horse"}), 403)
    assert api.call("PUT", f"/people/{viewer}/password", as_="ana", json={"password": "temporary"}).status_code == 204
    assert api.call("PUT", f"/people/{viewer}/password", as_=viewer,
                    json={"password": "correct horse", "current_password": "temporary"}).status_code == 204
    assert_error(api.call("PUT", "/people/ana/password", as_=viewer, json={"password": "takeover!"}), 403)
    assert_error(api.call("PUT", f"/people/{viewer}/password", as_=viewer,
                          json={"password": "short", "current_password": "correct horse"}), 422)
    assert api.call("PUT", "/people/tom/password", as_="ana", json={"password": "tom's new one"}).status_code == 204
    with api.db.session_scope() as s:
        assert authenticate(s, viewer, "correct horse").handle == viewer
        assert authenticate(s, "tom", "tom's new one").handle == "tom"


def test_people_and_council_seats_are_managed_by_the_council(api):
    created = api.post("/people", as_="marco", json={"handle": "ruben", "name": "Ruben Mertens",
                                                     "email": "ruben@telconova.example", "department": "Billing"})
    assert created.status_code == 201 and created.get_json()["seats"] == []
    assert_error(api.post("/people", as_="lotte", json={"handle": "rogue", "name": "Rogue"}), 403)
    seat = api.post("/council/seats", as_="marco", json={"person": "ruben", "role": "supporter",
                                                         "journey": "paying-my-bill"})
    assert seat.status_code == 201 and seat.get_json()["journey"] == "paying-my-bill"
    assert_error(api.post("/council/seats", as_="marco", json={"person": "ruben", "role": "supporter",
                                                               "journey": "paying-my-bill"}), 409)
    supporters = api.get("/council/seats?role=supporter", as_="iris").get_json()
    assert [s["person"] for s in supporters] == ["iris", "priya", "ruben", "tom"]
    assert [p["handle"] for p in api.get("/people?role=supporter&q=billing", as_="iris").get_json()] == ["ruben"]
    assert [p["handle"] for p in api.get("/people?role=owner&q=design", as_="iris").get_json()] == ["tom"]
    updated = api.patch("/people/ruben", as_="ana", json={"title": "Billing analyst", "active": False})
    assert updated.get_json()["title"] == "Billing analyst" and updated.get_json()["active"] is False
    assert [p["handle"] for p in api.get("/people?active=false", as_="iris").get_json()] == ["ruben"]
    assert api.delete(f"/council/seats/{seat.get_json()['id']}", as_="marco").status_code == 204
    assert api.get("/people/ruben", as_="iris").get_json()["seats"] == []
    assert api.get("/people/lotte", as_="iris").get_json()["owns"] == ["activating-my-sim", "managing-roaming",
                                                                       "switching-providers"]
