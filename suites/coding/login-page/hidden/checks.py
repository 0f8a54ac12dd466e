"""Hidden tests of the login-page case: Playwright drives Debian's Chromium and finds the form
by its semantics (roles and accessible names), never by ids. Wrong passwords and emails are
drawn from the run's seed (``sut.rng``). One browser serves every test (``session``); each
test gets a fresh context (no cookies from another)."""

import re
from contextlib import contextmanager

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
EMAIL, PASSWORD = "ada@example.com", "correct-horse"
LOCAL = "abcdefghijklmnopqrstuvwxyz0123456789"
CHARS = LOCAL + "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_!.@#"
BUTTON = re.compile(r"log ?in", re.I)
INVALID = re.compile("invalid email or password", re.I)
WAIT_MS = 2000
"""How long a locator waits for what it looks for (a wrong page fails no sooner)."""


@contextmanager
def session(sut):
    """The browser all the tests share."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def login_page(browser, sut):
    """A fresh page at ``/``."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(sut.url + "/")
        yield page
    finally:
        context.close()


def log_in(page, email, password):
    page.get_by_role("textbox", name=re.compile("email", re.I)).fill(email)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name=BUTTON).click()


def welcomed(page):
    heading = re.compile(rf"welcome, {re.escape(EMAIL)}", re.I)
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=WAIT_MS)


def refused(page):
    expect(page.get_by_role("alert")).to_contain_text(INVALID, timeout=WAIT_MS)
    expect(page.get_by_role("button", name=BUTTON)).to_be_visible(timeout=WAIT_MS)


def word(rng, least=1, most=16, chars=CHARS):
    return "".join(rng.choice(chars) for _ in range(rng.randint(least, most)))


def near_miss(rng, secret):
    """``secret`` with one character changed, removed or added, or its case changed."""
    i = rng.randrange(len(secret))
    return rng.choice((
        secret[:i] + rng.choice([c for c in CHARS if c != secret[i]]) + secret[i + 1:],
        secret[:i] + secret[i + 1:],
        secret[:i] + rng.choice(CHARS) + secret[i:],
        secret.upper(),
        secret + " ",
    ))


def other_email(rng):
    """A well-formed email that is not ada's (a malformed one would not even be sent)."""
    i = rng.randrange(3)
    return rng.choice((
        f"{word(rng, 2, 10, LOCAL)}@example.com",
        f"{EMAIL[:i]}{rng.choice([c for c in LOCAL if c != EMAIL[i]])}{EMAIL[i + 1:]}",
        f"x{EMAIL}", "ada@example.org", "ada@examples.com",
    ))


def test_the_form_is_labelled(sut, browser):
    with login_page(browser, sut) as page:
        email = page.get_by_role("textbox", name=re.compile("email", re.I))
        expect(email).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_label(re.compile("password", re.I))).to_have_attribute(
            "type", "password", timeout=WAIT_MS)
        expect(page.get_by_role("button", name=BUTTON)).to_be_visible(timeout=WAIT_MS)


def test_no_alert_before_a_failed_login(sut, browser):
    with login_page(browser, sut) as page:
        expect(page.get_by_role("button", name=BUTTON)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_role("alert")).to_have_count(0, timeout=WAIT_MS)


def test_correct_login_welcomes_the_user(sut, browser):
    with login_page(browser, sut) as page:
        log_in(page, EMAIL, PASSWORD)
        welcomed(page)


def test_a_wrong_password_is_refused(sut, browser):
    with login_page(browser, sut) as page:
        for _ in range(2):
            log_in(page, EMAIL, word(sut.rng, 4))
            refused(page)


def test_a_password_one_letter_off_is_refused(sut, browser):
    with login_page(browser, sut) as page:
        log_in(page, EMAIL, near_miss(sut.rng, PASSWORD))
        refused(page)


def test_another_email_is_refused(sut, browser):
    with login_page(browser, sut) as page:
        log_in(page, other_email(sut.rng), PASSWORD)
        refused(page)


def test_another_email_and_password_are_refused(sut, browser):
    with login_page(browser, sut) as page:
        log_in(page, other_email(sut.rng), word(sut.rng, 4))
        refused(page)


def test_the_form_comes_back_after_a_failure(sut, browser):
    with login_page(browser, sut) as page:
        log_in(page, EMAIL, near_miss(sut.rng, PASSWORD))
        refused(page)
        log_in(page, EMAIL, PASSWORD)
        welcomed(page)
