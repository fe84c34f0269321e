"""The browser fixtures themselves: the demo server answers and staff can log in through the page."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_store_staff_log_in_on_the_staff_page_and_land_in_the_store_console(demo_server, page):
    demo_server.log_in_staff(page, "staff.office@sweetlane.example")
    assert page.url.endswith("/store/pos")


def test_a_wrong_staff_password_is_refused_with_a_message(demo_server, page):
    page.goto(f"{demo_server.url}/staff/login")
    page.get_by_label("Email").fill("staff.office@sweetlane.example")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("That email and password do not match")
