"""Sealing a secret to one reader: it opens only with that reader's key, and says why not."""

from __future__ import annotations

import pytest

from crm_runtime.sealed import CannotOpen, Opener, Sealer, configured, ensure_keys


def test_a_sealed_token_opens_only_with_its_readers_key(tmp_path):
    private, public = ensure_keys(tmp_path / "notifications")
    other_private, _ = ensure_keys(tmp_path / "someone-else")
    sealed = Sealer.from_file(str(public)).seal("tok-123")
    assert "tok-123" not in sealed and sealed.startswith("v1.")
    assert Sealer.from_file(str(public)).seal("tok-123") != sealed  # OAEP is randomised
    assert Opener.from_file(str(private)).open(sealed) == "tok-123"
    with pytest.raises(CannotOpen, match="sealed for key"):
        Opener.from_file(str(other_private)).open(sealed)
    version, key_id, body = sealed.split(".")
    tampered = f"{version}.{key_id}.{body[:-4]}AAAA"
    with pytest.raises(CannotOpen, match="does not open"):
        Opener.from_file(str(private)).open(tampered)
    for junk in ("plain", "v2.x.y"):
        with pytest.raises(CannotOpen):
            Opener.from_file(str(private)).open(junk)


def test_the_private_key_is_readable_by_its_owner_only(tmp_path):
    private, public = ensure_keys(tmp_path)
    assert private.stat().st_mode & 0o077 == 0
    assert ensure_keys(tmp_path) == (private, public) and private.read_bytes()  # made once


def test_a_service_without_its_key_setting_says_which_setting(tmp_path):
    with pytest.raises(RuntimeError, match="INVITATION_SEAL_PUBLIC_KEY_FILE is not set"):
        configured(Sealer, "", "INVITATION_SEAL_PUBLIC_KEY_FILE")
    _, public = ensure_keys(tmp_path)
    assert configured(Sealer, str(public), "X") is configured(Sealer, str(public), "X")  # loaded once
