"""The page a person sees from the invitation e-mail: readable on a phone, legible, no script, and
its one style block the only inline content its Content-Security-Policy allows."""

from __future__ import annotations

import base64
import hashlib
import re

from crm_identity.web.invitation_page import _PAGE_HEADERS, _STYLE, _page


def _ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rule(selector: str) -> str:
    return re.search(r"(?:^|\})" + re.escape(selector) + r"\{([^}]*)\}", _STYLE)[1]


def _colour(selector: str, prop: str) -> str:
    return re.search(r"(?:^|;)" + prop + r":(#[0-9a-f]{6})", _rule(selector))[1]


def test_the_page_follows_the_device_width_and_says_its_language():
    html = _page(200, "Join <Harbor & Bay>", "text").body.decode()
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in html
    assert "<html lang='en'>" in html and "<script" not in html
    assert "<h1>Join &lt;Harbor &amp; Bay&gt;</h1>" in html  # names are escaped


def test_text_and_button_pass_wcag_aa_contrast():
    card = _colour(".card", "background")
    assert _ratio(_colour("body", "color"), card) >= 4.5
    assert _ratio(_colour("button", "color"), _colour("button", "background")) >= 4.5
    assert _ratio(_colour(".note", "color"), card) >= 4.5


def test_the_button_is_a_large_tap_target():
    button = _rule("button")
    assert "min-height:48px" in button and "width:100%" in button
    assert "outline" in _rule("button:focus-visible")


def test_only_the_page_s_own_style_is_allowed_inline():
    digest = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    policy = _PAGE_HEADERS["Content-Security-Policy"]
    assert f"style-src 'sha256-{digest}'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy and "script-src" not in policy
