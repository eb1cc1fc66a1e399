"""What a person does with the platform's e-mails: find the invitation link, open it, confirm."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from html import unescape
from pathlib import Path

import httpx

from .stack.mailserver import stored_for

_LINK = re.compile(r'href="([^"]*/invitations/accept\?token=[^"]+)"')
_HIDDEN = re.compile(r"<input type='hidden' name='(\w+)' value='([^']*)'>")


def confirm_form(html: str) -> dict[str, str] | None:
    """The hidden fields of the invitation page's confirmation form (None: the page has none)."""
    fields = dict(_HIDDEN.findall(html))
    return {k: unescape(v) for k, v in fields.items()} if "token" in fields else None


async def accept(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, httpx.Response | None]:
    """Open an invitation link and press its confirm button, as a browser would (the page's
    cookie goes back with the form). Returns the page and the confirmation's answer (None when the
    page offered nothing to confirm)."""
    # The confirmation may come long after the page (a person reads it; a loaded test loop is
    # slow): a fresh connection, not one the server may be closing as idle just then.
    page = await client.get(url, headers={"Connection": "close"})
    form = confirm_form(page.text) if page.status_code == 200 else None
    if form is None:
        return page, None
    return page, await client.post(url.split("?")[0], data=form)


def link_in_mail(maildir: Path, to: str) -> str:
    """The invitation link in the newest e-mail delivered to `to` (as its reader would click it)."""
    for path in reversed(stored_for(maildir, to)):
        with path.open("rb") as f:
            mail = BytesParser(policy=policy.default).parse(f)
        html = mail.get_body(preferencelist=("html",))
        found = _LINK.search(html.get_content()) if html else None
        if found:
            return unescape(found.group(1))
    raise LookupError(f"no invitation e-mail to {to} in {maildir}")
