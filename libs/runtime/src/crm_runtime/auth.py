"""Who is calling a service's HTTP side: a bearer JWT from the platform's identity provider.

Tokens are verified with PyJWT against the provider's public keys (a JWKS file or URL); issuer,
audience, expiry and not-before are checked, and the subject is the acting user. What that user
may do is decided by each service's own rules (identity's `web/access.py`, routing's `access.py`),
which take a `Caller` and answer with a `Decision`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from . import logs

log = logs.get(__name__)

# Support staff and the platform's own tools read any account; they never act for a user.
OPERATOR_SCOPE = "crm.operator"


@dataclass(frozen=True)
class Caller:
    user_id: str
    scopes: frozenset[str] = frozenset()

    @property
    def operator(self) -> bool:
        return OPERATOR_SCOPE in self.scopes


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    message: str = ""


ALLOW = Decision(True)


def deny(reason: str, message: str) -> Decision:
    return Decision(False, reason, message)


class Unauthenticated(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotConfigured(Exception):
    pass


class _JwksFile:
    """Keys from a JWKS file, read again when it changes so keys can be rotated in place."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._stamp: float | None = None
        self._keys: jwt.PyJWKSet | None = None

    def key(self, kid: str | None):
        stamp = self.path.stat().st_mtime
        if self._keys is None or stamp != self._stamp:
            self._keys = jwt.PyJWKSet.from_dict(json.loads(self.path.read_text()))
            self._stamp = stamp
        if (key := _match(self._keys.keys, kid)) is None:
            raise Unauthenticated("the token was signed with a key this service does not know")
        return key


def _match(keys: list[jwt.PyJWK], kid: str | None):
    """The key named `kid` (or the only one, for a token naming none), else None."""
    if kid is None and len(keys) == 1:
        return keys[0].key
    return next((k.key for k in keys if k.key_id == kid), None)


REFETCH_S = 60.0


class Verifier:
    def __init__(self, *, jwks_file: str = "", jwks_url: str = "", issuer: str = "", audience: str = "",
                 algorithms: list[str] | None = None, leeway_s: float = 30.0) -> None:
        self.issuer, self.audience, self.leeway = issuer, audience, leeway_s
        self.algorithms = algorithms or ["RS256", "ES256"]
        self._file = _JwksFile(jwks_file) if jwks_file else None
        # PyJWKClient caches the provider's keys; `_from_provider` decides when to fetch them again.
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url and not jwks_file else None
        self._refetched_at = -REFETCH_S

    def _from_provider(self, kid: str | None):
        """The provider's key `kid` from the cached set; an unknown kid fetches the set again at
        most once a `REFETCH_S` (a rotation shows up within that), so tokens with made-up key ids
        cannot make every request a call to the provider."""
        assert self._client is not None
        for refresh in (False, True):
            if refresh:
                now = time.monotonic()
                if now - self._refetched_at < REFETCH_S:
                    break
                self._refetched_at = now
            if (key := _match(self._client.get_signing_keys(refresh=refresh), kid)) is not None:
                return key
        raise Unauthenticated("the token was signed with a key this service does not know")

    @classmethod
    def from_settings(cls, settings) -> Verifier:
        return cls(jwks_file=settings.auth_jwks_file, jwks_url=settings.auth_jwks_url, issuer=settings.auth_issuer,
                   audience=settings.auth_audience, algorithms=settings.auth_algorithms,
                   leeway_s=settings.auth_leeway_s)

    @property
    def configured(self) -> bool:
        return bool((self._file or self._client) and self.issuer and self.audience)

    async def _key(self, token: str):
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        try:
            if self._file is not None:
                return self._file.key(kid)
            # The client fetches over the network with urllib; keep it off the event loop.
            return await asyncio.to_thread(self._from_provider, kid)
        except Unauthenticated:
            raise
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            log.warning("auth_keys_unavailable", error=type(exc).__name__)
            raise Unauthenticated("the identity provider's keys could not be read") from None

    async def verify(self, token: str) -> Caller:
        if not self.configured:
            raise NotConfigured
        key = await self._key(token)
        try:
            claims = jwt.decode(token, key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not meant for this platform (aud)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token was not issued by the configured identity provider (iss)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is not valid ({type(exc).__name__})") from None
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise Unauthenticated("the token's subject is empty")
        scope = claims.get("scope", "")
        return Caller(user_id=claims["sub"], scopes=frozenset(scope.split() if isinstance(scope, str) else ()))



@dataclass(frozen=True)
class AccountStanding:
    """The account's owner, and the caller's standing in that account as identity decided it:
    whether their role administers the account, and their status (None: not a member). Which roles
    administer is identity's rule (`crm_identity.domain.members`); other services keep its answer."""

    owner_user_id: str | None
    administers: bool
    status: str | None


def may_administer_account(caller: Caller, standing: AccountStanding | None) -> Decision:
    """Account owners, active account admins and operators read an account and its seats. Identity
    and seats both answer with this rule, from their own copies of the account."""
    if caller.operator:
        return ALLOW
    if standing is not None:
        if caller.user_id == standing.owner_user_id:
            return ALLOW
        if standing.administers and standing.status == "active":
            return ALLOW
    return deny("not_account_admin", "only the account's owner and its active admins may read it")


def may_read_own(caller: Caller, user_id: str) -> Decision:
    """A user reads what is theirs (notifications, instances, entitlements); operators anyone's."""
    if caller.operator or caller.user_id == user_id:
        return ALLOW
    return deny("not_yourself", "a user reads only their own")
