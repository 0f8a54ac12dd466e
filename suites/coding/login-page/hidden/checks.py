"""Hidden tests of the login-page case: Playwright drives Debian's Chromium and finds the form
by its semantics (roles and accessible names), never by ids."""

import re

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"


def test_correct_login_welcomes_the_user(sut):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(3000)
        page.goto(sut.url + "/")
        page.get_by_role("textbox", name=re.compile("email", re.I)).fill("ada@example.com")
        page.get_by_label(re.compile("password", re.I)).fill("correct-horse")
        page.get_by_role("button", name=re.compile(r"log ?in", re.I)).click()
        expect(page.get_by_role("heading", name=re.compile(r"welcome, ada@example\.com", re.I))
               ).to_be_visible()
        browser.close()


def test_wrong_password_shows_an_alert(sut):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(3000)
        page.goto(sut.url + "/")
        page.get_by_role("textbox", name=re.compile("email", re.I)).fill("ada@example.com")
        page.get_by_label(re.compile("password", re.I)).fill("wrong")
        page.get_by_role("button", name=re.compile(r"log ?in", re.I)).click()
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile("invalid email or password", re.I))
        expect(page.get_by_role("button", name=re.compile(r"log ?in", re.I))).to_be_visible()
        browser.close()
