import statistics
import time

import pytest

from crm_notifications.domain.push import Session, devices_to_push
from crm_notifications.domain.templates import DEFAULTS, PLACEHOLDERS, TemplateError, check, render, text_version

VALUES = {"first_name": "Ana", "last_name": "Agent", "email": "ana@example.com", "account_name": "Harbor",
          "accept_url": "http://127.0.0.1:8001/invitations/accept?token=abc&x=1", "expires_at": "Dec 1",
          "instance_name": "Team B"}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_default_template_passes_its_own_check(name):
    check(name, DEFAULTS[name].subject, DEFAULTS[name].body)


def test_unknown_placeholders_are_refused_naming_the_allowed_ones():
    with pytest.raises(TemplateError) as err:
        check("opt_in_invitation", "Hi {first_name}", "Join {acount_name}: {accept_url}")
    assert err.value.reason == "unknown_placeholder"
    assert "{acount_name}" in str(err.value) and "{account_name}" in str(err.value)
    with pytest.raises(TemplateError) as err:
        check("opt_in_invitation", "Hi", "{instance_name}")  # only instance invitations have it
    assert err.value.reason == "unknown_placeholder"


@pytest.mark.parametrize("name", ["opt_in_invitation", "standard_invitation", "instance_invitation"])
def test_an_invitation_template_without_its_link_is_refused_naming_it(name):
    with pytest.raises(TemplateError) as err:
        check(name, "Join us", "<p>Hi {first_name}, welcome aboard.</p>")
    assert err.value.reason == "missing_placeholder" and "{accept_url}" in str(err.value)
    with pytest.raises(TemplateError):  # a link in the subject alone is not a link anyone can click
        check(name, "Join {accept_url}", "<p>Hi {first_name}</p>")
    check(name, "Join us", '<p><a href="{accept_url}">Join</a></p>')


def test_an_e_mail_that_carries_no_link_needs_no_placeholder():
    check("seat_upgrade", "Seats", "<p>Your seats changed.</p>")


@pytest.mark.parametrize("body", ["Hi {first_name", "Hi }", "{first_name.__class__}", "{first_name!r}",
                                  "{first_name:>10}", "{}"])
def test_templates_that_cannot_render_safely_are_refused(body):
    with pytest.raises(TemplateError) as err:
        check("opt_in_invitation", "Subject", body)
    assert err.value.reason in ("template_invalid", "unknown_placeholder")


def test_rendering_escapes_inserted_data_but_not_the_template():
    template = check("opt_in_invitation", "Welcome {first_name}", "<p><b>{first_name}</b> <a href=\"{accept_url}\">go</a></p>")
    subject, body = render(template, {**VALUES, "first_name": "<script>alert(1)</script>"})
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert body.startswith("<p><b>") and "token=abc&amp;x=1" in body
    assert subject == "Welcome <script>alert(1)</script>"  # a header is text, not HTML


def test_a_subject_cannot_smuggle_headers():
    subject, _ = render(DEFAULTS["opt_in_invitation"], {**VALUES, "account_name": "X\r\nBcc: evil@example.com"})
    assert "\n" not in subject and "\r" not in subject


def test_the_text_part_keeps_the_link():
    _, body = render(DEFAULTS["opt_in_invitation"], VALUES)
    text = text_version(body)
    assert "Launch CRM: http://127.0.0.1:8001/invitations/accept?token=abc&x=1" in text and "<" not in text


def test_every_placeholder_a_default_template_uses_is_one_its_list_offers():
    """An admin is offered `PLACEHOLDERS[name]`: a default using one that is not listed could not be
    written back by them, and one the list lacks is never filled for them."""
    import string

    from crm_notifications.domain.templates import DEFAULTS

    for name, template in DEFAULTS.items():
        used = {field for text in (template.subject, template.body)
                for _, field, _, _ in string.Formatter().parse(text) if field}
        assert used and used <= PLACEHOLDERS[name], (name, used - PLACEHOLDERS[name])


def test_web_hears_every_instance_mobile_only_the_one_it_is_in():
    sessions = [Session("w1", "web", "ins_a"), Session("m1", "mobile", "ins_a"), Session("m2", "mobile", "ins_b")]
    assert [s.device_id for s in devices_to_push("ins_b", sessions)] == ["w1", "m2"]
    assert [s.device_id for s in devices_to_push("ins_a", sessions)] == ["w1", "m1"]
    assert devices_to_push("ins_c", sessions) == [sessions[0]]


def test_an_invitation_link_keeps_its_token_slot_until_sending():
    from crm_notifications.domain.templates import DEFAULTS, TOKEN_SLOT, fill_token, render

    _, body = render(DEFAULTS["opt_in_invitation"], {
        "first_name": "A", "last_name": "B", "email": "a@example.com", "account_name": "Acme & Co",
        "accept_url": f"http://127.0.0.1:8001/invitations/accept?token={TOKEN_SLOT}", "expires_at": "Dec 1"})
    assert TOKEN_SLOT in body  # escaping leaves the slot alone
    sent = fill_token(body, "Zx_9-token")
    assert "accept?token=Zx_9-token" in sent and TOKEN_SLOT not in sent


def test_smtp_is_encrypted_unless_turned_off():
    from crm_notifications.settings import NotificationSettings

    assert NotificationSettings().smtp_tls_args()["start_tls"] is True  # the default
    implicit = NotificationSettings(smtp_tls="tls").smtp_tls_args()
    assert (implicit["start_tls"], implicit["use_tls"]) == (False, True) and implicit["tls_context"] is not None
    assert NotificationSettings(smtp_tls="off").smtp_tls_args() == {"start_tls": False, "use_tls": False}


# Bodies an admin may set (64 KB, the contract's bound) that make a backtracking pattern retry
# from every "<" or every "<a": rendering must stay linear in the body's size.
ADVERSARIAL = ['<a href="" ' * 5957, '<a href="' * 7281, '<a href="' * 7281 + '>', "<" * 65_536, "<a " * 21_845, '<a href="x">' * 5461]


@pytest.mark.parametrize("body", ADVERSARIAL, ids=["open-anchors", "open-hrefs", "one-long-tag", "brackets", "bare-a", "unclosed"])
def test_a_64_kb_adversarial_body_checks_and_renders_in_linear_time(body):
    assert len(body) <= 65_536
    template = check("seat_upgrade", "Hi {first_name}", body)  # no link required: the body is only markup
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        _, html_body = render(template, VALUES)
        text_version(html_body)
        timings.append(time.perf_counter() - started)
    # A median, well under the 50 ms asked; the quadratic patterns took seconds to minutes here.
    assert statistics.median(timings) < 0.05, timings


def test_the_text_part_keeps_paragraphs_and_every_link():
    body = '<p>One &amp; two</p><p>See <a class="x" href="https://a.example/?q=1&amp;r=2">the &lt;page&gt;</a>' \
           ' or <A HREF="https://b.example">B</A>.</p>Tail <b>bold</b>'
    assert text_version(body) == "One & two\n\nSee the <page>: https://a.example/?q=1&r=2 or B: https://b.example.\n\nTail bold"


def test_a_push_says_where_it_leads_and_from_another_instance_where_it_comes_from():
    from crm_notifications.domain.push import payload

    push = {"push_id": "p", "notification_id": "n", "user_id": "bob", "device_id": "d", "device": "web",
            "instance_id": "ins_team", "instance_name": "Harbor Team", "title": "New lead", "body": "Ann",
            "path": "/leads/l1", "device_instance_id": "ins_enterprise"}
    sent = payload(push)
    assert sent["destination"] == {"instance_id": "ins_team", "path": "/leads/l1"}
    assert sent["source"] == {"instance_id": "ins_team", "instance_name": "Harbor Team"}
    assert payload({**push, "device_instance_id": "ins_team"})["source"] is None  # already there: no source line
