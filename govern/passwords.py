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

# The production cost of a new hash (werkzeug's default). `use_cost` lowers it for a test run only: nothing in the
# environment or the organisation file can, and hashes made at any accepted cost still verify.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
DEFAULT_COST = (SCRYPT_N, SCRYPT_R, SCRYPT_P)
_cost: tuple[int, int, int] = DEFAULT_COST
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


def use_cost(cost: tuple[int, int, int] | None) -> None:
    """Set the scrypt (N, r, p) of new hashes for this process; None restores the production default.

    Called at start-up from `Config.password_hash_cost`, which only a test configuration sets."""
    global _cost
    n, r, p = DEFAULT_COST if cost is None else cost
    # Below N=256 OpenSSL refuses the memory bound this module (and werkzeug) gives scrypt.
    if not (256 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= _MAX_SCRYPT_R and 0 < p <= _MAX_SCRYPT_P):
        raise ValueError(f"scrypt cost must be N a power of two from 256 to {_MAX_SCRYPT_N}, r up to {_MAX_SCRYPT_R}, "
                         f"p up to {_MAX_SCRYPT_P}; got {cost!r}")
    _cost = (n, r, p)
    _dummy.clear()


def current_cost() -> tuple[int, int, int]:
    return _cost


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, safe to store (at the process's cost, see `use_cost`)."""
    n, r, p = _cost
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(SALT_LENGTH))
    return f"scrypt:{n}:{r}:{p}${salt}${_scrypt(password, salt, n, r, p)}"


_dummy: dict[tuple[int, int, int], str] = {}


def dummy_hash() -> str:
    """A hash of nothing anyone types, at the current cost: checked against when a handle is unknown, so that a failed
    sign-in takes as long whether the handle exists or not."""
    if _cost not in _dummy:
        _dummy[_cost] = hash_password("not a password anyone has")
    return _dummy[_cost]


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
