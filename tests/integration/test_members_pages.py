"""Member pages: logging in with a browser and showing the rotating member code."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"


def test_a_shopper_logs_in_and_sees_a_fresh_code_on_each_visit(client):
    client.post("/api/v1/members", json={"email": "li@example.com", "password": PASSWORD, "name": "Li Na"})
    assert client.get("/members/me", follow_redirects=False).status_code == 303
    r = client.post("/members/login", data={"login": "li@example.com", "password": PASSWORD, "next": "//evil.example"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/members/me"  # no open redirect
    first = client.get("/members/me")
    assert first.status_code == 200 and "Hello Li Na" in first.text and "<svg" in first.text
    second = client.get("/members/me")
    code = re.compile(r"<code>([0-9A-Z]{18})</code>")
    assert code.search(first.text).group(1) != code.search(second.text).group(1)
    client.post("/members/logout", follow_redirects=False)
    assert client.get("/members/me", follow_redirects=False).status_code == 303


def test_a_wrong_password_on_the_login_page_says_so(client):
    r = client.post("/members/login", data={"login": "nobody@example.com", "password": "whatever"})
    assert r.status_code == 401 and "Wrong email/phone or password" in r.text
