"""The documents a newcomer reads keep pointing at things that exist: every relative link of the
README and `docs/` resolves (a `#heading` too), and every `make`, `crm` or `crm-stack` command
shown in a code block is a target or command that is still there."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


def _code_lines(path: Path) -> list[str]:
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.split("  #", 1)[0].strip())
    return lines


def _links() -> list[tuple[Path, str]]:
    return [(doc, target) for doc in DOCUMENTS for target in LINK.findall(doc.read_text())
            if not re.match(r"^(https?:|mailto:)", target)]


@pytest.mark.parametrize(("doc", "target"), _links(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_every_relative_link_resolves(doc: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    resolved = (doc.parent / path).resolve() if path else doc
    assert resolved.exists(), f"{doc.relative_to(ROOT)} links to {target}, which does not exist"
    if anchor and resolved.suffix == ".md":
        assert anchor in _anchors(resolved), f"{doc.relative_to(ROOT)}: no heading #{anchor} in {path or doc.name}"


def _make_targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)}


def _commands(app: typer.Typer) -> click.Command:
    return typer.main.get_command(app)


def _exists(group, words: list[str]) -> bool:
    """Whether the words name a command of the group (flags, arguments and placeholders end it)."""
    for word in words:
        if not hasattr(group, "get_command"):  # a command, not a group: the rest are its arguments
            return True
        if word.startswith("-") or word.startswith("<") or word.startswith("["):
            return True
        found = group.get_command(click.Context(group), word)
        if found is None:
            return False
        group = found
    return True


def _shown(program: str) -> list[tuple[Path, list[str]]]:
    found = []
    for doc in DOCUMENTS:
        for line in _code_lines(doc):
            try:
                words = shlex.split(line.replace("|", " "))
            except ValueError:
                words = line.split()
            if words and words[0] == program:
                found.append((doc, words[1:]))
    return found


def test_every_make_target_shown_exists() -> None:
    targets, shown = _make_targets(), _shown("make")
    assert shown, "no `make` command in any code block: the parsing is broken"
    for doc, words in shown:
        for word in words:
            if "=" in word or word.startswith("-"):
                continue
            assert word in targets, f"{doc.relative_to(ROOT)} shows `make {word}`, which the Makefile lacks"


@pytest.mark.parametrize("program", ["crm", "crm-stack"])
def test_every_cli_command_shown_exists(program: str) -> None:
    if program == "crm":
        from crm_cli.main import app
    else:
        from crm_devstack.cli import app
    group, shown = _commands(app), _shown(program)
    assert shown, f"no `{program}` command in any code block: the parsing is broken"
    for doc, words in shown:
        assert _exists(group, words), f"{doc.relative_to(ROOT)} shows `{program} {' '.join(words)}`, which does not exist"
