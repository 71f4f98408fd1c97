"""Password hashing for sign-in, on the standard library alone (the core uses no web framework).

New hashes are scrypt, written as `scrypt:N:r:p$salt$hex` — the format werkzeug's `generate_password_hash` writes, so
hashes stored before this module existed (`scrypt:32768:8:1$…`, `pbkdf2:sha256:600000$…`) still verify and a database
can move between versions in either direction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_LENGTH = 16
_SALT_CHARS = string.ascii_letters + string.digits
# Bounds on the cost parameters read back from a stored hash: generous for any real setting, but a corrupt or hostile
# row cannot make one sign-in attempt take minutes or gigabytes.
_MAX_SCRYPT_N, _MAX_SCRYPT_R, _MAX_SCRYPT_P = 2**20, 32, 16
_MAX_PBKDF2_ITERATIONS = 10_000_000
_PBKDF2_DIGESTS = {"sha1", "sha224", "sha256", "sha384", "sha512"}
_DEFAULT_PBKDF2_ITERATIONS = 1_000_000  # werkzeug's default when a pbkdf2 hash names none


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p).hex()


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, safe to store."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(SALT_LENGTH))
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${salt}${_scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)}"


def _digest(method: str, salt: str, password: str) -> str | None:
    """The hex digest `method` gives for (salt, password); None for a method or parameters we do not accept."""
    name, *params = method.split(":")
    try:
        if name == "scrypt":
            n, r, p = map(int, params) if params else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
            if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= _MAX_SCRYPT_R
                    and 0 < p <= _MAX_SCRYPT_P):
                return None
            return _scrypt(password, salt, n, r, p)
        if name == "pbkdf2":
            digest = params[0] if params else "sha256"
            iterations = int(params[1]) if len(params) > 1 else _DEFAULT_PBKDF2_ITERATIONS
            if len(params) > 2 or digest not in _PBKDF2_DIGESTS or not 0 < iterations <= _MAX_PBKDF2_ITERATIONS:
                return None
            return hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), iterations).hex()
    except ValueError:
        return None
    return None


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches a stored hash (ours or werkzeug's); False for anything unreadable."""
    if not stored:
        return False
    method, sep, rest = stored.partition("$")
    salt, sep2, expected = rest.partition("$")
    if not (sep and sep2):
        return False
    actual = _digest(method, salt, password or "")
    return actual is not None and hmac.compare_digest(actual, expected)
