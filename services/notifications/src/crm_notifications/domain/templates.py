"""E-mail templates (AO13): named placeholders, checked when set, HTML-escaped when rendered."""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from typing import Any

from crm_contracts.common import Refused


PLACEHOLDERS: dict[str, set[str]] = {
    "opt_in_invitation": {"first_name", "last_name", "email", "account_name", "accept_url", "expires_at"},
    "standard_invitation": {"first_name", "last_name", "email", "account_name", "accept_url", "expires_at"},
    "instance_invitation": {"first_name", "last_name", "email", "account_name", "instance_name",
                            "accept_url", "expires_at"},
    "seat_upgrade": {"account_name", "first_name", "seats_total", "from_total", "amount", "member_user_id",
                     "days_remaining", "days_in_period", "period_end"},
    "seat_unavailable": {"account_name", "first_name", "member_name", "member_user_id", "seats_used",
                         "seats_total", "reason"},
}

# What each e-mail exists for: a template without it is refused (an invitation without its link
# leaves nobody able to join).
REQUIRED: dict[str, set[str]] = {
    "opt_in_invitation": {"accept_url"}, "standard_invitation": {"accept_url"}, "instance_invitation": {"accept_url"},
}


@dataclass(frozen=True)
class Template:
    subject: str
    body: str  # HTML


DEFAULTS: dict[str, Template] = {
    "opt_in_invitation": Template(
        "{account_name} invites you to the CRM",
        "<p>Hi {first_name},</p><p>{account_name} has added you to its CRM. Click below to join; "
        "your seat is set up the moment you do.</p><p><a href=\"{accept_url}\">Launch CRM</a></p>"
        "<p>This link works once and expires on {expires_at}.</p>"),
    "standard_invitation": Template(
        "Your {account_name} CRM account is ready",
        "<p>Hi {first_name},</p><p>{account_name} has activated your CRM account.</p>"
        "<p><a href=\"{accept_url}\">Launch CRM</a></p><p>This link expires on {expires_at}.</p>"),
    "instance_invitation": Template(
        "Join {instance_name} on the CRM",
        "<p>Hi {first_name},</p><p>You are invited to join {instance_name}.</p>"
        "<p><a href=\"{accept_url}\">Join {instance_name}</a></p><p>This link expires on {expires_at}.</p>"),
    "seat_upgrade": Template(
        "{account_name} now has {seats_total} seats",
        "<p>Hi {first_name},</p><p>{member_user_id} accepted their invitation when no seat was free, so "
        "{account_name} was upgraded from {from_total} to {seats_total} seats.</p>"
        "<p>Charge: {amount} for the remaining {days_remaining} of {days_in_period} days of the period "
        "ending {period_end}.</p>"),
    "seat_unavailable": Template(
        "{member_name} is waiting for a seat in {account_name}",
        "<p>Hi {first_name},</p><p>{member_name} ({member_user_id}) joined {account_name} but no seat could be "
        "given ({reason}): {seats_used} of {seats_total} seats are in use.</p>"
        "<p>To seat them, buy more seats (or raise the limit on automatic upgrades, or release a seat "
        "nobody uses), then reactivate {member_name} in the member list.</p>"),
}


class TemplateError(Refused):
    """A rule broken; the runtime answers it with `<service>.command.rejected`."""


def check(name: str, subject: str, body: str) -> Template:
    """Refuse a template with unknown placeholders or one that cannot render."""
    allowed = PLACEHOLDERS[name]
    for part_name, text in (("subject", subject), ("body", body)):
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateError("template_invalid", f"{part_name} cannot be rendered: {exc}") from None
        for _, field, spec, conversion in fields:
            if field is None:
                continue
            if field not in allowed:
                raise TemplateError("unknown_placeholder",
                                    f"{part_name} uses {{{field}}}; allowed: "
                                    + ", ".join(f"{{{p}}}" for p in sorted(allowed)))
            if spec or conversion:
                raise TemplateError("template_invalid", f"{part_name}: {{{field}}} takes no format or conversion")
    used = {field for _, field, _, _ in string.Formatter().parse(body) if field}
    if missing := REQUIRED.get(name, set()) - used:
        raise TemplateError("missing_placeholder", "the body must carry "
                            + ", ".join(f"{{{p}}}" for p in sorted(missing)) + f": without it a {name} e-mail is of no use")
    template = Template(subject, body)
    render(template, {p: "x" for p in allowed})  # proves it renders
    return template


# What a preview fills each placeholder with: plausible, and with characters that show the
# escaping a real e-mail gets.
SAMPLE: dict[str, str] = {
    "first_name": "Jamie", "last_name": "Rivera", "email": "jamie@example.com", "account_name": "Harbor & Bay Realty",
    "instance_name": "Harbor <North> Team", "accept_url": "https://crm.example/invitations/accept#token=PREVIEW",
    "expires_at": "in 7 days", "seats_total": "6", "from_total": "5", "amount": "USD 32.67",
    "member_user_id": "u-jamie", "member_name": "Jamie Rivera", "days_remaining": "20", "days_in_period": "30",
    "period_end": "the end of the period", "seats_used": "5", "reason": "no_free_seat",
}
assert all(set(names) <= set(SAMPLE) for names in PLACEHOLDERS.values())


def preview(template: Template, name: str) -> tuple[str, str]:
    """The template rendered with sample values, escaped as when it is sent."""
    return render(template, {k: SAMPLE[k] for k in PLACEHOLDERS[name]})


_CONTROL = re.compile(r"[\r\n\t]+")


def render(template: Template, values: dict[str, Any]) -> tuple[str, str]:
    """(subject, html body). Inserted values are HTML-escaped; the subject loses line breaks."""
    escaped = {k: html.escape(str(v), quote=True) for k, v in values.items()}
    subject = template.subject.format_map({k: _CONTROL.sub(" ", str(v)) for k, v in values.items()})
    return _CONTROL.sub(" ", subject), template.body.format_map(escaped)


# Where an invitation token goes in a rendered e-mail until the moment it is sent: the stored copy
# never holds the token, only its sealed form beside it (html.escape leaves this slot as it is).
TOKEN_SLOT = "SEALED-INVITATION-TOKEN"


def fill_token(text: str, token: str) -> str:
    return text.replace(TOKEN_SLOT, token)


# The text part is made by one forward scan of our own: each character is read a bounded number
# of times, so an admin's 64 KB body costs linear time. A backtracking pattern over `<a …>` took
# minutes on such a body, and the standard library's `html.parser` is quadratic on unclosed tags
# (9 s for 32 KB of "<a " here).
_HREF = re.compile(r'\bhref\s*=\s*"([^"]*)"', re.IGNORECASE)
_NAME = re.compile(r"/?\s*([a-zA-Z][a-zA-Z0-9]*)")


def text_version(html_body: str) -> str:
    """A plain-text part for mail clients that do not show HTML."""
    parts: list[str] = []
    links: list[str | None] = []
    at = 0
    while (opens := html_body.find("<", at)) != -1:
        parts.append(html_body[at:opens])
        closes = html_body.find(">", opens + 1)
        if closes == -1:  # no tag can end: what is left is text
            at = opens
            break
        tag, at = html_body[opens + 1:closes], closes + 1
        name = _NAME.match(tag)
        if name is None:
            continue
        closing, word = tag.lstrip().startswith("/"), name.group(1).lower()
        if word == "a" and not closing:
            href = _HREF.search(tag)
            links.append(href.group(1) if href else None)
        elif word == "a" and links:
            if (target := links.pop()) is not None:
                parts.append(f": {target}")
        elif word == "p" and closing:
            parts.append("\n\n")
    parts.append(html_body[at:])
    text = html.unescape("".join(parts))
    return "\n".join(line.strip() for line in text.splitlines()).strip()
