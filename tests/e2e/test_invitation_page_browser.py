"""The invitation page as a person sees it, in headless Chromium (Debian's, driven by Selenium):
at a phone's size the page follows the device width, its text is readable and its button a large
target; the person opens the link from their e-mail (the Maildir), confirms, and holds a seat.
Screenshots go to `.run/screens/` (copies in `docs/screens/`)."""

from __future__ import annotations

import re
import shutil

import pytest

from crm_contracts import identity

pytestmark = pytest.mark.stack

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
PHONE = {"width": 390, "height": 844, "pixelRatio": 3}


def browser(phone: bool):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Root in a sandboxed machine, and no network beyond loopback: no sandbox, no background calls.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800"):
        options.add_argument(flag)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


async def _link_in_mail(platform, acc: str, user: str) -> str:
    from mail_steps import html_of, unique_email, wait_mail

    address = unique_email(user)
    added = await platform.send(acc, identity.AddMember(
        by_user_id=platform.owner_of(acc), user_id=user, email=address, first_name="Pia", last_name="Park",
        user_type="platform", activation="opt_in", group_id=None, role="agent"))
    await platform.answer(added, "notifications.email.sent")
    html = html_of(await wait_mail(platform.stack, address))
    return re.search(r'href="([^"]*/invitations/accept\?token=[^"]+)"', html)[1]


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (scripts/bootstrap.sh)")
@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
async def test_a_person_opens_the_link_confirms_on_the_page_and_holds_a_seat(platform, new_account_id, phone):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    acc = new_account_id()
    await platform.enterprise(acc, seats_total=2)
    user = "pia"
    link = await _link_in_mail(platform, acc, user)
    screens = platform.stack.root / ".run" / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    size = "phone" if phone else "desktop"
    driver = browser(phone)
    try:
        driver.get(link)
        button = driver.find_element(By.CSS_SELECTOR, "button[type=submit]")
        layout_width = driver.execute_script("return document.documentElement.clientWidth")
        font_px = float(driver.execute_script("return getComputedStyle(document.body).fontSize")[:-2])
        box = button.rect
        assert f"Brokerage {acc}" in driver.find_element(By.TAG_NAME, "h1").text
        assert "When you accept" in driver.page_source and "<script" not in driver.page_source
        if phone:
            # The page takes the phone's width (without a viewport it would lay out at 980 px and
            # shrink), nothing overflows it, and the button spans it at a thumb's height.
            assert layout_width == PHONE["width"]
            assert driver.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"]
            assert box["width"] >= 0.75 * PHONE["width"]  # the card's whole width, inside the margins
        assert font_px >= 16 and box["height"] >= 48
        driver.save_screenshot(str(screens / f"invitation-{size}.png"))
        button.click()
        try:
            # The title, not the h1: reading an element of the page being replaced can fail stale, and
            # the confirmation is answered only once the acceptance took effect (a loaded CI machine).
            WebDriverWait(driver, 30).until(ready.title_contains("Welcome to"))
        except Exception as exc:
            raise AssertionError(f"after the button ({exc!r}): {driver.current_url} {driver.title!r}") from None
        driver.save_screenshot(str(screens / f"invitation-{size}-accepted.png"))
    finally:
        driver.quit()
    await platform.status(acc, user, "pending_activation")  # seated in the one seat beside the owner's
    assert (await platform.seats(acc))["summary"]["seats_used"] == 2
