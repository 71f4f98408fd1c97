"""Sign-ins at the same moment from one address (an office behind one NAT, found by bench/load.py): none is refused."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from govern.cli.support import DEMO_PASSWORD
from govern.model import SigninThrottle, utcnow
from govern.services.people import authenticate

pytestmark = pytest.mark.postgres


def _someone_waits_for_a_lock(db) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def test_a_first_sign_in_waiting_on_another_first_sign_in_from_the_same_address_succeeds(example_db):
    address = "198.51.100.7"
    # Another sign-in from the address has written its throttle row and not committed yet.
    other = example_db.engine.connect()
    other_transaction = other.begin()
    other.execute(sa.insert(SigninThrottle).values(key=f"address:{address}", failures=0, updated_at=utcnow()))
    outcome = {}

    def sign_in():
        try:
            with example_db.session_scope() as s:
                outcome["signed in"] = authenticate(s, "ana", DEMO_PASSWORD, client=address).handle
        except Exception as exc:  # the failure is the finding: reported by the assertion below
            outcome["refused"] = f"{type(exc).__name__}: {exc}"

    waiting = threading.Thread(target=sign_in)
    waiting.start()
    for _ in range(600):  # until the second sign-in waits for the first one's row (or has finished)
        if _someone_waits_for_a_lock(example_db) or not waiting.is_alive():
            break
        time.sleep(0.05)
    other_transaction.commit()
    other.close()
    waiting.join(timeout=60)
    assert outcome == {"signed in": "ana"}
