"""Development signing keys and short-lived tokens, standing in for the platform's identity
provider on a local stack. Services only ever see the public half (a JWKS file); the private key
stays with the stack, the tests and this CLI."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

DEV_ISSUER = "https://idp.crm.invalid/dev"
DEV_AUDIENCE = "crm-platform"
OPERATOR_SCOPE = "crm.operator"
PRIVATE_FILE, JWKS_FILE = "signing-key.pem", "jwks.json"


def ensure_dev_keys(folder: Path) -> Path:
    """An ES256 key pair in `folder` (created once): the private key readable by its owner only,
    and the public key as a JWKS file. Returns the JWKS file."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / PRIVATE_FILE, folder / JWKS_FILE
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public.unlink(missing_ok=True)
    if not public.exists():
        jwk = ECAlgorithm.to_jwk(_private_key(private).public_key(), as_dict=True)
        jwk.update(kid=_kid(private), use="sig", alg="ES256")
        public.write_text(json.dumps({"keys": [jwk]}, indent=2))
    return public


def _private_key(private: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{private} is not an EC key: tokens here are ES256")
    return key


def _kid(private: Path) -> str:
    # Stable for a key pair, different for the next one, so rotation is visible in headers.
    return "dev-" + uuid.uuid5(uuid.NAMESPACE_URL, private.read_text()).hex[:12]


def mint(private: Path, user_id: str, *, ttl_s: int = 300, operator: bool = False, issuer: str = DEV_ISSUER,
         audience: str = DEV_AUDIENCE, not_before_s: int = 0, extra: dict | None = None) -> str:
    """A signed token for `user_id`, valid for `ttl_s` seconds (five minutes by default)."""
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": user_id, "iat": now, "nbf": now + not_before_s,
              "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    if operator:
        claims["scope"] = OPERATOR_SCOPE
    claims.update(extra or {})
    return jwt.encode(claims, _private_key(private), algorithm="ES256", headers={"kid": _kid(private)})
