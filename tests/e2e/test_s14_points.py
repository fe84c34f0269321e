"""S14, points across a link (issue 5 §5, `points_settlement`): two OAO instances on real
sockets link with member recognition and points settlement. Mei, a member of the bakery's
instance A with network points there, logs in at the convenience chain's instance B "with
A"; B holds 500 of her A points, posts 300 and the rest comes back to her. Both ledgers
record the points funding under the same entry id and amount: A's merchant owes the link
partner, B's partner account owes B's merchant. A link without the capability is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, Forbidden, NotFound
from oao.federation import points
from oao.loyalty import service as loyalty
from oao.members.models import Member
from oao.settlement.models import LedgerEntry
from tests.e2e.test_s14_richer_link import _log_in_at_b_with_a
from tests.e2e.test_s14_two_instances import Instance, _bakery, _corner, instances  # noqa: F401

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
LINKED = ["order_handoff", "member_recognition", "points_settlement"]
ADMIN = Principal(kind="api_key", id="key_admin", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)


def _link(a: Instance, b: Instance, bakery, corner, capabilities: list[str]) -> tuple[dict, dict]:
    invitation = a.api("POST", "/federation/invitations", bakery["key"], json={"capabilities": capabilities})
    assert invitation.status_code == 201, invitation.text
    accepted = b.api("POST", "/federation/links", corner["key"], json={
        "token": invitation.json()["token"], "capabilities": capabilities})
    assert accepted.status_code == 201, accepted.text
    link_a = next(link for link in a.api("GET", "/federation/links", bakery["key"]).json()
                  if link["remote_link_id"] == accepted.json()["id"])
    return link_a, accepted.json()


def _mei_with_points(a: Instance, points_: int) -> str:
    signed_up = a.api("POST", "/members", json={"email": "mei@example.com", "password": PASSWORD, "name": "Mei"})
    assert signed_up.status_code == 201, signed_up.text
    member_id = signed_up.json()["id"]
    with a.db.unit_of_work() as s:
        programme = loyalty.network_programme(s)
        loyalty.grant_points(s, principal=ADMIN, grant_id="welcome-mei", member_id=member_id,
                             programme_id=programme.id, points=points_, reason="welcome", now=datetime.now(UTC))
    return member_id


def _available(a: Instance, member_id: str) -> int:
    with a.db.read() as s:
        [balance] = loyalty.balances(s, member_id=member_id)
        return balance.available


def _entry(db, entry_id: str) -> tuple[str, str, int, str, str] | None:
    with db.read() as s:
        e = s.get(LedgerEntry, entry_id)
        return None if e is None else (e.debit_account, e.credit_account, e.amount_minor, e.currency, e.kind)


def test_a_partner_holds_posts_and_settles_a_members_points_across_the_link(instances):  # noqa: F811
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    link_a, link_b = _link(a, b, bakery, corner, LINKED)
    assert link_a["capabilities"] == link_b["capabilities"] == LINKED
    mei_a = _mei_with_points(a, 1000)
    token, _ = _log_in_at_b_with_a(a, b, link_b, "mei@example.com")
    mei_b = b.api("GET", "/me/profile", token).json()["id"]
    with b.db.read() as s:
        assert s.get(Member, mei_b) is not None
    secret, now = b.settings.secret_key, datetime.now(UTC)

    held = points.hold_remote_points(b.db, link_id=link_b["id"], member_id=mei_b, hold_id="till-1-sale-7",
                                     points=500, secret_key=secret, now=now)
    assert (held["status"], held["points"], held["value_minor"], held["currency"]) == ("held", 500, 500, "CNY")
    assert _available(a, mei_a) == 500, "held points are not spendable elsewhere meanwhile"
    again = points.hold_remote_points(b.db, link_id=link_b["id"], member_id=mei_b, hold_id="till-1-sale-7",
                                      points=500, secret_key=secret, now=now)
    assert again["status"] == "held" and _available(a, mei_a) == 500, "a retry holds nothing more"

    with pytest.raises(Conflict):
        points.hold_remote_points(b.db, link_id=link_b["id"], member_id=mei_b, hold_id="till-1-sale-8",
                                  points=600, secret_key=secret, now=now)

    posted = points.post_remote_points(b.db, link_id=link_b["id"], hold_id="till-1-sale-7", points=300,
                                       secret_key=secret, now=now)
    assert (posted["status"], posted["posted_points"], posted["value_minor"]) == ("posted", 300, 300)
    assert _available(a, mei_a) == 700, "300 spent, the other 200 released"
    entry_id = posted["entry"]["id"]
    assert entry_id == f"fed-points:{link_a['id']}:till-1-sale-7"
    assert _entry(a.db, entry_id) == (f"merchant:{bakery['merchant']}", f"partner:fed:{link_a['id']}", 300, "CNY",
                                      "points_funding")
    assert _entry(b.db, entry_id) == (f"partner:fed:{link_b['id']}", f"merchant:{corner['merchant']}", 300, "CNY",
                                      "points_funding")
    retried = points.post_remote_points(b.db, link_id=link_b["id"], hold_id="till-1-sale-7", points=300,
                                        secret_key=secret, now=now)
    assert retried["entry"] == posted["entry"] and _available(a, mei_a) == 700, "posting is exactly once"
    with a.db.read() as s:
        assert len(s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "points_funding")).all()) == 1

    # A hold released at B gives every point back; an unknown subject on A is a 404.
    points.hold_remote_points(b.db, link_id=link_b["id"], member_id=mei_b, hold_id="till-1-sale-9", points=100,
                              secret_key=secret, now=now)
    assert _available(a, mei_a) == 600
    voided = points.void_remote_points(b.db, link_id=link_b["id"], hold_id="till-1-sale-9", secret_key=secret,
                                       now=now)
    assert voided["status"] == "voided" and _available(a, mei_a) == 700
    with pytest.raises(NotFound):
        points.void_remote_points(b.db, link_id=link_b["id"], hold_id="never-held", secret_key=secret, now=now)

    unsigned = httpx.post(f"{a.url}/api/v1/federation/links/{link_a['id']}/points/holds",
                          json={"hold_id": "x", "member_subject": "mr_x", "points": 1}, timeout=30)
    assert unsigned.status_code == 401


def test_a_link_without_points_settlement_refuses_points(instances):  # noqa: F811
    a, b = instances
    bakery, corner = _bakery(a), _corner(b)
    refused = a.api("POST", "/federation/invitations", bakery["key"],
                    json={"capabilities": ["order_handoff", "points_settlement"]})
    assert refused.status_code == 422, "points need member recognition on the same link"
    # A offers points; B accepts only recognition: the link negotiates no points.
    invitation = a.api("POST", "/federation/invitations", bakery["key"], json={"capabilities": LINKED})
    link_b = b.api("POST", "/federation/links", corner["key"], json={
        "token": invitation.json()["token"], "capabilities": ["order_handoff", "member_recognition"]}).json()
    assert link_b["capabilities"] == ["order_handoff", "member_recognition"]
    with pytest.raises(Forbidden):
        points.hold_remote_points(b.db, link_id=link_b["id"], member_id="mem_x", hold_id="h1", points=1,
                                  secret_key=b.settings.secret_key, now=datetime.now(UTC))
    # Asked anyway (signed with B's key), A answers 403 for a capability it did not negotiate.
    from oao.federation import client
    from oao.federation.models import FederationLink

    with b.db.read() as s:
        link = s.get(FederationLink, link_b["id"])
        s.expunge(link)
    key_id, private = client._keys(b.db, secret_key=b.settings.secret_key, now=datetime.now(UTC))
    with httpx.Client(timeout=30) as http:
        answer = client.signed_call(http, method="POST", url=f"{a.url}/api/v1/federation/links/"
                                    f"{link.remote_link_id}/points/holds", body={"hold_id": "h1"},
                                    key_id=key_id, private_key=private, now=datetime.now(UTC))
    assert answer.status_code == 403, answer.text
