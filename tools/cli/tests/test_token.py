"""`crm token`: a short-lived development token the services accept, and clear refusals."""

from __future__ import annotations

from typer.testing import CliRunner

from crm_cli import tokens
from crm_cli.main import app
from crm_runtime.auth import Verifier


async def test_the_printed_token_verifies_as_its_user(tmp_path):
    jwks = tokens.ensure_dev_keys(tmp_path)
    result = CliRunner().invoke(app, ["token", "u-7", "--operator", "--ttl", "60",
                                      "--key", str(tmp_path / tokens.PRIVATE_FILE)])
    assert result.exit_code == 0, result.output
    caller = await Verifier(jwks_file=str(jwks), issuer=tokens.DEV_ISSUER,
                            audience=tokens.DEV_AUDIENCE).verify(result.output.strip())
    assert caller.user_id == "u-7" and caller.operator


def test_without_a_key_or_with_a_silly_ttl_it_says_why(tmp_path):
    missing = CliRunner().invoke(app, ["token", "u-7", "--key", str(tmp_path / "none.pem")])
    assert missing.exit_code == 2 and "make up" in missing.output
    tokens.ensure_dev_keys(tmp_path)
    silly = CliRunner().invoke(app, ["token", "u-7", "--ttl", "0", "--key", str(tmp_path / tokens.PRIVATE_FILE)])
    assert silly.exit_code == 2 and "--ttl" in silly.output
