"""Sign-in password hashes: the core's own scrypt hashing still verifies hashes werkzeug wrote before, and vice versa."""

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

import subprocess
import sys

from govern import passwords
from govern.passwords import hash_password, verify_password
from govern.settings import Config


@pytest.fixture
def production_cost():
    """The production cost for one test (the suite hashes cheaply, see tests/conftest.py)."""
    before = passwords.current_cost()
    passwords.use_cost(None)
    yield
    passwords.use_cost(before)


def test_a_new_hash_verifies_only_its_own_password(production_cost):
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt:32768:8:1$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize("method", ["scrypt", "scrypt:16384:8:1", "pbkdf2:sha256:1000", "pbkdf2:sha512:2000"])
def test_hashes_written_by_werkzeug_before_still_verify(method):
    stored = generate_password_hash("govern-demo", method=method)
    assert verify_password(stored, "govern-demo")
    assert not verify_password(stored, "govern-dem0")


def test_werkzeug_accepts_the_hashes_written_now():
    assert check_password_hash(hash_password("s3cret"), "s3cret")


@pytest.mark.parametrize("stored", [None, "", "plain", "scrypt$salt", "md5$salt$abcd", "scrypt:3:8:1$salt$00",
                                    "scrypt:1048576000:8:1$salt$00", "pbkdf2:sha256:x$salt$00",
                                    "pbkdf2:whirlpool:1000$salt$00", "pbkdf2:sha256:99999999999$salt$00"])
def test_unreadable_or_unreasonable_hashes_never_verify(stored):
    assert not verify_password(stored, "anything")


def test_the_production_cost_is_werkzeugs_strong_default_and_nothing_lowers_it_by_default():
    assert passwords.DEFAULT_COST == (2**15, 8, 1)
    assert Config(database_url="sqlite://", instance_path=".").password_hash_cost is None
    assert Config.from_env({"GOVERN_INSTANCE_PATH": "/tmp", "GOVERN_SECRET_KEY": "k"}).password_hash_cost is None
    fresh = subprocess.run([sys.executable, "-c", "from govern.passwords import hash_password; print(hash_password('x'))"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.startswith("scrypt:32768:8:1$")


def test_a_cheap_test_hash_still_verifies_anywhere():
    before = passwords.current_cost()
    try:
        passwords.use_cost((256, 8, 1))
        cheap = hash_password("s3cret")
        passwords.use_cost(None)
        assert cheap.startswith("scrypt:256:8:1$")
        assert verify_password(cheap, "s3cret") and not verify_password(cheap, "s3cre7")
        assert check_password_hash(cheap, "s3cret")
    finally:
        passwords.use_cost(before)


@pytest.mark.parametrize("cost", [(3, 8, 1), (1, 8, 1), (16, 8, 1), (2**21, 8, 1), (16, 0, 1), (16, 8, 17)])
def test_an_unreasonable_cost_is_refused(cost):
    with pytest.raises(ValueError, match="scrypt cost"):
        passwords.use_cost(cost)


def test_signing_in_with_an_unknown_handle_checks_a_hash_at_the_current_cost(production_cost):
    assert passwords.dummy_hash().startswith("scrypt:32768:8:1$")
