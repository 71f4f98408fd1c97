"""Sign-in password hashes: the core's own scrypt hashing still verifies hashes werkzeug wrote before, and vice versa."""

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from govern.passwords import hash_password, verify_password


def test_a_new_hash_verifies_only_its_own_password():
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
