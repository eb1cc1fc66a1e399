"""The page people open from their invitation e-mail: GET shows whom they would join and asks them
to confirm (links are opened by mail scanners too); POST, from that page only, accepts."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html import escape
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, Field

from crm_contracts import command, identity
from crm_contracts.identity import InvitationKind
from crm_runtime import logs
from crm_runtime.errors import unreachable
from crm_runtime.http import Request, get, html_response, post, service, trace_context

from .. import repository
from ..domain.invitations import InvitationError, hash_token

log = logs.get(__name__)

# What a person is told for each way a link can fail, and what to do next.
_REFUSED_PAGES = {
    "invitation_not_found": (404, "This link is not valid",
                             "Check that you opened the whole link from your invitation e-mail."),
    "invitation_already_used": (409, "This invitation was already used",
                                "You have joined already. Sign in to the CRM with your e-mail address."),
    "invitation_expired": (410, "This invitation has expired",
                           "Ask your brokerage administrator to send you a new invitation."),
    "invitation_superseded": (410, "A newer invitation was sent",
                              "Use the link in the most recent invitation e-mail you received."),
    "invitation_revoked": (410, "This invitation was withdrawn",
                           "Your brokerage administrator withdrew it. Contact them if this is unexpected."),
}


_CSRF_COOKIE = "crm_invitation_csrf"

# Readable on a phone (the viewport follows the device, text at 18 px, a full-width button at least
# 48 px tall), with contrast above WCAG AA (text 16.6:1 on the card, the button 8.0:1, notes 7.8:1) and a
# visible focus ring. No script: the page works with JavaScript off.
_STYLE = (
    "*{box-sizing:border-box}"
    "body{margin:0;background:#f3f5f8;color:#1b1f24;font:18px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    "main{max-width:32rem;margin:0 auto;padding:2rem 1.25rem}"
    ".card{background:#ffffff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.5rem;line-height:1.25;margin:0 0 .75rem}"
    ".place{font-weight:600}"
    "ol{padding-left:1.25rem;margin:.75rem 0 1.25rem}"
    "button{display:block;width:100%;min-height:48px;padding:.75rem 1rem;border:0;border-radius:8px;"
    "background:#0a4f9e;color:#ffffff;font:inherit;font-weight:600;cursor:pointer}"
    "button:focus-visible{outline:3px solid #f0a202;outline-offset:2px}"
    ".note{font-size:.9rem;color:#4a5361;margin-top:1rem}"
)
# The confirmation page holds a live link in its address: keep it out of caches, other sites'
# Referer headers and other sites' frames (a framed "Accept" button is a clickjacking target). Its
# one style block is allowed by its hash, nothing else inline. `same-origin`, not `no-referrer`:
# under `no-referrer` a browser's own form post says `Origin: null`, which the confirmation must
# refuse as it cannot tell it from another site's (seen in Chromium: nobody could confirm).
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
                 "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                                            "form-action 'self'; frame-ancestors 'none'"}


def _page(status: int, title: str, text: str, form: str = "", details: str = ""):
    """`title` and `text` are escaped here; `form` and `details` are markup built by the caller."""
    return html_response(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><div class='card'><h1>{escape(title)}</h1><p>{escape(text)}</p>{details}{form}</div></main></body></html>",
        status, headers=_PAGE_HEADERS)


# What follows the confirmation, by kind of invitation.
_NEXT = {
    InvitationKind.OPT_IN: ("You join {p}.", "A seat is set up for you on the brokerage's plan.",
                            "You sign in to the CRM and finish your profile."),
    InvitationKind.STANDARD: ("You join {p}.", "A seat is set up for you on the brokerage's plan.",
                              "You sign in to the CRM and finish your profile."),
    InvitationKind.INSTANCE: ("You join {p}.", "Its leads and pipeline appear beside your other instances.",
                              "You switch to it from the CRM's instance menu."),
}


def _same_site(request: Request, public_origin: str) -> bool:
    """Browsers say where a form post came from; a post from another site is refused."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == public_origin


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _public_origin(request: Request) -> str:
    return _origin(service(request).settings.base_url())



async def _pending(request: Request, token: str):
    """The invitation and account a token names, or the refusal page to show instead."""
    async with service(request).pool.acquire() as conn:
        invitation = await repository.invitations.invitation_by_hash(conn, hash_token(token)) if token else None
        account = await repository.accounts.get_account(conn, invitation.account_id) if invitation else None
        instance = await repository.instances.get_instance(conn, invitation.instance_id) \
            if invitation and invitation.instance_id else None
    if invitation is None or account is None:
        return None, _page(*_REFUSED_PAGES["invitation_not_found"])
    try:
        invitation.accept(service(request).clock(None))  # only asks whether it could be; nothing is stored
    except InvitationError as refused:
        return None, _page(*_REFUSED_PAGES[refused.reason])
    return (invitation, account, instance), None

async def confirm_page(request: Request):
    """GET /invitations/accept?token=… — the link of an invitation e-mail. It accepts nothing:
    mail scanners and link previews open links before people do. It names the account and asks
    the person to confirm."""
    found, refused = await _pending(request, request.query_params.get("token", ""))
    if refused is not None:
        return refused
    invitation, account, instance = found
    place = f"{instance.name} ({account.name})" if instance else account.name
    csrf = secrets.token_urlsafe(32)
    form = ("<form method='post' action='/invitations/accept'>"
            "<input type='hidden' name='token' value='{t}'><input type='hidden' name='csrf' value='{c}'>"
            "<button type='submit'>Accept and join {p}</button></form>"
            "<p class='note'>This link works once: after you accept, it stops working.</p>").format(
                t=escape(request.query_params["token"]), c=csrf, p=escape(place))
    steps = "".join(f"<li>{escape(step.format(p=place))}</li>" for step in _NEXT[invitation.kind])
    details = f"<p>When you accept:</p><ol>{steps}</ol>"
    page = _page(200, f"Join {place}", f"You were invited to join {place} in the CRM.", form, details)
    page.set_cookie(_CSRF_COOKIE, csrf, max_age=3600, path="/invitations", httponly=True, samesite="strict",
                    secure=_public_origin(request).startswith("https://"))
    return page

async def accept(request: Request):
    """POST /invitations/accept (form: token, csrf) — the person's confirmation from the page."""
    body = await request.body()
    try:
        fields = parse_qs(body.decode(errors="replace"), max_num_fields=4) if len(body) <= 4096 else {}
    except ValueError:  # more fields than the form has: not our page's post
        fields = {}
    token, csrf = (fields.get("token") or [""])[0], (fields.get("csrf") or [""])[0]
    cookie = request.cookies.get(_CSRF_COOKIE, "")
    if not (_same_site(request, _public_origin(request)) and csrf and cookie and secrets.compare_digest(csrf, cookie)):
        log.warning("invitation_confirm_refused", reason="cross_site_or_missing_csrf")
        return _page(403, "Please confirm from the invitation page",
                     "Open the link in your invitation e-mail again and press the button on that page.")
    found, refused = await _pending(request, token)
    if refused is not None:
        return refused
    invitation, account, _ = found
    message = command(identity.AcceptInvitation(token=token), source="crm/identity-web",
                      accountid=invitation.account_id, subject=invitation.user_id, **trace_context(request))
    try:
        outcome = await service(request).processor.handle_message(message)
    except Exception as exc:
        log.exception("invitation_accept_failed")
        if unreachable(exc) is None:  # our fault, not an outage: trying again would fail again
            return _page(500, "Something went wrong", "We could not accept your invitation; we have been told.")
        return _page(503, "Please try again", "We could not process your invitation just now.")
    if outcome.name == "rejected":
        return _page(*_REFUSED_PAGES.get(outcome.reason or "", (400, "This link cannot be used", outcome.detail or "")))
    page = _page(200, f"Welcome to {account.name}",
                 "Your invitation is accepted. Launch the CRM to finish setting up your account.")
    page.delete_cookie(_CSRF_COOKIE, path="/invitations")
    return page

class InvitationLink(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="the token of the invitation e-mail's link")


# Pages for people: HTML answers, whatever the outcome (the form posts token and csrf).
ROUTES = [get("/invitations/accept", confirm_page, public=True, query=InvitationLink, answers="text/html"),
          post("/invitations/accept", accept, public=True, answers="text/html")]
