"""Password hashing (argon2), signed access tokens (JWT HS256) and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tongdai.core.errors import Unauthenticated

_hasher = PasswordHasher()
#: A valid hash of a random password, verified when the user does not exist so timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends the same work, even for an unknown user."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (token) or an integration (API key)."""

    subject_id: str
    role: str
    tenant_id: str | None
    email: str | None = None
    kind: str = "user"


class TokenIssuer:
    """Signs and checks bearer tokens."""

    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, principal: Principal, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {
            "sub": principal.subject_id,
            "role": principal.role,
            "tid": principal.tenant_id,
            "email": principal.email,
            "iat": int(now),
            "exp": int(now + self.ttl_s),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str) -> Principal:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired", error_id="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is not valid", error_id="invalid_token") from None
        return Principal(claims["sub"], claims["role"], claims.get("tid"), claims.get("email"))


def load_or_create_key(configured: str, data_dir: Path) -> bytes:
    """The token signing key: configured, or generated once and kept in data_dir/secret.key."""
    if configured:
        return configured.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    path.write_bytes(key)
    path.chmod(0o600)
    return key


API_KEY_PREFIX = "tdk_"


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, lookup prefix, stored hash)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = f"{API_KEY_PREFIX}{prefix}_{secret}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    rest = key[len(API_KEY_PREFIX) :]
    prefix, sep, _ = rest.partition("_")
    return prefix if sep and len(prefix) == 12 else None


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
