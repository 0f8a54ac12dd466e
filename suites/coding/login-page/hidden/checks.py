"""Hidden tests of the login-page case: Playwright drives Debian's Chromium and finds the form
by its semantics (roles and accessible names), never by ids."""

import re
from contextlib import contextmanager

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def _submitted(sut, password):
    """The page after logging in as ada@example.com with ``password``."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(3000)
            page.goto(sut.url + "/")
            email = page.get_by_role("textbox", name=re.compile("email", re.I))
            email.fill("ada@example.com")
            page.get_by_label(re.compile("password", re.I)).fill(password)
            page.get_by_role("button", name=re.compile(r"log ?in", re.I)).click()
            yield page
        finally:
            browser.close()


def test_correct_login_welcomes_the_user(sut):
    with _submitted(sut, "correct-horse") as page:
        expect(page.get_by_role("heading", name=re.compile(r"welcome, ada@example\.com", re.I))
               ).to_be_visible()


def test_wrong_password_shows_an_alert(sut):
    with _submitted(sut, "wrong") as page:
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile("invalid email or password", re.I))
        expect(page.get_by_role("button", name=re.compile(r"log ?in", re.I))).to_be_visible()
