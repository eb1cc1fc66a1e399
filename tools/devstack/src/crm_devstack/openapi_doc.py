"""Writes each service's OpenAPI 3.1 document (what it serves at /openapi.json) to
docs/openapi/<service>.json; `--check` fails when a checked-in copy is not what the code serves."""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path

SERVICES = ("identity", "seats", "notifications", "routing")
FOLDER = Path(__file__).resolve().parents[4] / "docs" / "openapi"


def document(service: str) -> dict:
    logging.disable(logging.WARNING)  # building the app warns that no token verifier is configured
    try:
        return importlib.import_module(f"crm_{service}.app").service().app().state.openapi
    finally:
        logging.disable(logging.NOTSET)


def rendered(service: str) -> str:
    return json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for service in SERVICES:
        path, text = FOLDER / f"{service}.json", rendered(service)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        FOLDER.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}: run `python -m crm_devstack.openapi_doc`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
