"""Secrets that cross a topic for one reader only: sealed with that reader's RSA public key
(OAEP, SHA-256) by the `cryptography` library, and opened with its private key.

Identity seals each invitation token to notifications, so the token in `identity.events.v1` and
in identity's outbox is useless to anyone without notifications' key; notifications opens it
only when it sends the e-mail and then forgets it. The sealed form names its key
(`v1.<key id>.<base64url ciphertext>`), so a reader with a rotated key says which one it lacks.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PRIVATE_FILE, PUBLIC_FILE = "invitations-seal.pem", "invitations-seal.pub.pem"


class CannotOpen(Exception):
    pass


def _key_id(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


class Sealer:
    def __init__(self, public_pem: bytes) -> None:
        key = serialization.load_pem_public_key(public_pem)
        if not isinstance(key, rsa.RSAPublicKey):  # OAEP needs RSA: say so, not fail at the first seal
            raise ValueError(f"the sealing key must be an RSA public key, not {type(key).__name__}")
        self._key = key
        self.key_id = _key_id(key)

    @classmethod
    def from_file(cls, path: str) -> Sealer:
        return cls(Path(path).read_bytes())

    def seal(self, secret: str) -> str:
        sealed = self._key.encrypt(secret.encode(), _OAEP)
        return f"v1.{self.key_id}.{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


class Opener:
    def __init__(self, private_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"the opening key must be an RSA private key, not {type(key).__name__}")
        self._key = key
        self.key_id = _key_id(key.public_key())

    @classmethod
    def from_file(cls, path: str) -> Opener:
        return cls(Path(path).read_bytes())

    def open(self, sealed: str) -> str:
        try:
            version, key_id, body = sealed.split(".", 2)
        except ValueError:
            raise CannotOpen("not a sealed value") from None
        if version != "v1":
            raise CannotOpen(f"unknown sealing version {version!r}")
        if key_id != self.key_id:
            raise CannotOpen(f"sealed for key {key_id}, this reader holds {self.key_id}")
        try:
            return self._key.decrypt(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), _OAEP).decode()
        except ValueError:
            raise CannotOpen("the sealed value does not open with this key") from None


def configured(kind: type[Sealer] | type[Opener], path: str, setting: str) -> Sealer | Opener:
    """The sealer or opener of a service's key file setting, loaded once; a clear error when the
    setting is empty (the service cannot issue or send invitations without it)."""
    if not path:
        raise RuntimeError(f"{setting} is not set: invitation tokens cannot be sealed or opened")
    return _load(kind, path)  # type: ignore[arg-type]  # a class is hashable; functools.cache's typing misses it


@cache
def _load(kind: Any, path: str) -> Sealer | Opener:  # Any: a class is hashable, which mypy's cache typing misses
    return kind.from_file(path)


def ensure_keys(folder: Path) -> tuple[Path, Path]:
    """A development key pair in `folder` (created once): (private, public)."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    if not private.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public
