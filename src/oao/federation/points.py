"""Points across a link (capability `points_settlement`): a member of the issuing
instance A, recognised at the accepting instance B through the shared login
(`member_recognition`), spends her A network points at B, and both ledgers
settle it under one entry id.

B (acceptor) asks A, signed, to hold points of the member behind the link-pairwise
subject it learned at login; A holds them in its network programme as a tender at
its own linked merchant (so loyalty's usual issuer → acceptor funding applies on A)
and, when B posts the hold, records that its merchant owes the partner the value:
debit `merchant:<A merchant>`, credit `partner:fed:<A link>`. B records the mirror
image (debit `partner:fed:<B link>`, credit `merchant:<B merchant>`) with the same
entry id and amount, taken from A's answer. Every call is idempotent by the hold id
B chose, so a retry after a lost answer is safe.

The A side (`*_for_partner`) runs inside the signed endpoint's transaction; the B
side (`*_remote_points`) makes the remote call outside any transaction, then writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.core.db import Database
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.federation import client
from oao.federation import service as federation
from oao.federation.models import FederationLink, FederationLogin
from oao.federation.parcels import partner_account
from oao.loyalty import service as loyalty
from oao.loyalty.models import Hold
from oao.members import service as members
from oao.members.models import MemberIdentity
from oao.settlement import service as settlement

CAPABILITY = "points_settlement"
ENTRY_KIND = "points_funding"
MAX_HOLD_ID = 40  # the local hold id adds the link id (loyalty refs are at most 80 characters)
HOLDS = "/points/holds"


def local_hold_id(link_id: str, hold_id: str) -> str:
    """A's hold id: namespaced by the link, so two partners' hold ids never meet."""
    return f"fed:{link_id}:{hold_id}"


def entry_id(issuer_link_id: str, hold_id: str) -> str:
    """The settlement entry id both ledgers use (chosen by the issuer; B can rebuild it)."""
    return f"fed-points:{issuer_link_id}:{hold_id}"


def _check_hold_id(hold_id: Any) -> str:
    if not isinstance(hold_id, str) or not 1 <= len(hold_id) <= MAX_HOLD_ID or not hold_id.isprintable():
        raise InvalidInput(f"hold_id is 1 to {MAX_HOLD_ID} printable characters.")
    return hold_id


def _whole(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} is a positive whole number.")
    return value


# --- A: the issuer, answering the partner ---------------------------------------------------------

def _answer(session: Session, *, link: FederationLink, hold: Hold, hold_id: str) -> dict[str, Any]:
    programme = loyalty.get_programme(session, programme_id=hold.programme_id)
    points = hold.posted_points if hold.status == "posted" else hold.points
    out: dict[str, Any] = {
        "hold_id": hold_id, "status": {"pending": "held"}.get(hold.status, hold.status), "points": hold.points,
        "posted_points": hold.posted_points, "currency": programme.currency,
        "value_minor": loyalty.hold_value_minor(session, hold_id=hold.id, points=points) if points else 0,
        "expires_at": hold.expires_at.isoformat()}
    if hold.status == "posted":
        out["entry"] = {"id": entry_id(link.id, hold_id), "kind": ENTRY_KIND, "amount_minor": out["value_minor"],
                        "currency": programme.currency}
    return out


def _partner_hold(session: Session, *, link: FederationLink, hold_id: str) -> Hold:
    hold = session.get(Hold, local_hold_id(link.id, _check_hold_id(hold_id)))
    if hold is None:
        raise NotFound(f"No points hold {hold_id!r} on this link.")
    return hold


def hold_for_partner(session: Session, *, link: FederationLink, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Hold network points of the member behind the link-pairwise `member_subject` (404 unknown, 409 too few)."""
    hold_id = _check_hold_id(body.get("hold_id"))
    subject = body.get("member_subject")
    if not isinstance(subject, str) or not 1 <= len(subject) <= 255:
        raise InvalidInput("member_subject is the subject the member logged in with through this link.")
    points, amount = _whole("points", body.get("points")), _whole("amount_minor", body.get("amount_minor"))
    if (points is None) == (amount is None):
        raise InvalidInput("Give points or amount_minor (one of them).")
    # The subject decrypts only under this link's scope: another link's (or merchant's) ref resolves to nothing.
    member_id = members.resolve_member_ref(session, merchant_id=link.id, member_ref=subject)
    if member_id is None:
        raise NotFound("No member behind this subject on this link.")
    programme = loyalty.network_programme(session)
    currency = body.get("currency")
    if currency is not None and currency != programme.currency:
        raise InvalidInput(f"The network points here are valued in {programme.currency}, not {currency!r}.")
    if points is None:
        points = loyalty.points_needed(session, programme_id=programme.id, amount_minor=amount or 0,
                                       accepting_merchant_id=link.merchant_id, at=now)
    hold = loyalty.hold_points(session, hold_id=local_hold_id(link.id, hold_id), member_id=member_id,
                               programme_id=programme.id, points=points, accepting_merchant_id=link.merchant_id,
                               now=now, sale_ref=f"fed:{link.id}")
    return _answer(session, link=link, hold=hold, hold_id=hold_id)


def post_for_partner(session: Session, *, link: FederationLink, hold_id: str, body: dict[str, Any],
                     now: datetime) -> dict[str, Any]:
    """Spend the held points (all or fewer; the rest goes back) and record the points funding entry."""
    hold = _partner_hold(session, link=link, hold_id=hold_id)
    points = _whole("points", body.get("points"))
    if hold.status == "voided":
        raise InvalidState(f"Points hold {hold_id} was released; it cannot be posted.")
    hold = loyalty.post_hold(session, hold_id=hold.id, now=now, points=points)
    answer = _answer(session, link=link, hold=hold, hold_id=hold_id)
    entry = answer["entry"]
    if entry["amount_minor"] > 0:
        merchant = f"merchant:{link.merchant_id}"
        settlement.record_entry(session, entry_id=entry["id"], kind=ENTRY_KIND, debit=merchant,
                                credit=partner_account(link), amount_minor=entry["amount_minor"],
                                currency=entry["currency"], merchant_ids=[link.merchant_id],
                                reference=f"points {hold_id}", now=now)
    return answer


def void_for_partner(session: Session, *, link: FederationLink, hold_id: str, now: datetime) -> dict[str, Any]:
    """Release the held points (the sale at the partner failed); a posted hold is a 409."""
    hold = _partner_hold(session, link=link, hold_id=hold_id)
    if hold.status == "posted":
        raise InvalidState(f"Points hold {hold_id} was posted; it cannot be released.")
    hold = loyalty.void_hold(session, hold_id=hold.id, now=now)
    return _answer(session, link=link, hold=hold, hold_id=hold_id)


# --- B: the acceptor, asking the issuer ---------------------------------------------------------

def remote_subject(session: Session, *, link: FederationLink, member_id: str) -> str:
    """The subject the issuer knows our member by: the pairwise `sub` of her login through this link."""
    login = session.get(FederationLogin, (link.id, "client"))
    if login is None or not login.issuer:
        raise InvalidState(f"Link {link.id} has no shared login; members cannot be recognised through it.")
    subject = session.scalar(select(MemberIdentity.subject).where(MemberIdentity.member_id == member_id,
                                                                  MemberIdentity.issuer == login.issuer))
    if subject is None:
        raise NotFound("This member never logged in through this link, so the partner cannot recognise her.")
    return subject


@dataclass(frozen=True, slots=True)
class _Target:
    """What a remote call needs of our link, read before the call (no session stays open across it)."""
    id: str
    remote_link_id: str
    merchant_id: str
    url: str
    account: str


def _link(session: Session, link_id: str) -> FederationLink:
    link = session.get(FederationLink, link_id)
    if link is None:
        raise NotFound(f"No federation link {link_id!r}.")
    if link.status != "active" or not link.remote_link_id:
        raise InvalidState(f"Link {link_id} is not active.")
    federation.require_capability(link, CAPABILITY)
    return link


def _target(link: FederationLink) -> _Target:
    return _Target(link.id, str(link.remote_link_id), link.merchant_id, link.remote_url + federation.link_path(link),
                   partner_account(link))


_REMOTE_ERRORS: dict[int, type[Exception]] = {403: Forbidden, 404: NotFound, 409: Conflict, 422: InvalidInput}


def _call(db: Database, *, link: _Target, method: str, suffix: str, body: dict[str, Any], secret_key: str,
          now: datetime, http: httpx.Client | None) -> dict[str, Any]:
    """A signed call to the issuer; its refusals come back as the same problems (409 stays a 409)."""
    key_id, private = client._keys(db, secret_key=secret_key, now=now)
    url = link.url + suffix
    session_http = http or httpx.Client(timeout=client.TIMEOUT)
    try:
        response = client.signed_call(session_http, method=method, url=url, body=body, key_id=key_id,
                                      private_key=private, now=now)
    except httpx.HTTPError as exc:
        raise federation.PartnerUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
    finally:
        if http is None:
            session_http.close()
    if response.status_code in (200, 201):
        return client._answer(response)
    error = _REMOTE_ERRORS.get(response.status_code)
    if error is None:
        raise federation.PartnerUnavailable(f"{url} answered {response.status_code}: {response.text[:300]}")
    try:
        detail = str(response.json().get("detail") or response.text[:300])
    except ValueError:
        detail = response.text[:300]
    raise error(f"The partner refused: {detail}")


def hold_remote_points(db: Database, *, link_id: str, member_id: str, hold_id: str, points: int | None = None,
                       amount_minor: int | None = None, currency: str | None = None, secret_key: str,
                       now: datetime, http: httpx.Client | None = None) -> dict[str, Any]:
    """Hold points our member has at the partner (by points or by the amount they should pay)."""
    _check_hold_id(hold_id)
    with db.read() as session:
        found = _link(session, link_id)
        subject = remote_subject(session, link=found, member_id=member_id)
        link = _target(found)
    body: dict[str, Any] = {"hold_id": hold_id, "member_subject": subject}
    body.update({k: v for k, v in (("points", points), ("amount_minor", amount_minor), ("currency", currency))
                 if v is not None})
    return _call(db, link=link, method="POST", suffix=HOLDS, body=body, secret_key=secret_key, now=now, http=http)


def post_remote_points(db: Database, *, link_id: str, hold_id: str, points: int | None = None, secret_key: str,
                       now: datetime, http: httpx.Client | None = None) -> dict[str, Any]:
    """Spend the held points at the partner, then record the mirrored funding entry in our ledger."""
    _check_hold_id(hold_id)
    with db.read() as session:
        link = _target(_link(session, link_id))
    body = {} if points is None else {"points": points}
    answer = _call(db, link=link, method="POST", suffix=f"{HOLDS}/{hold_id}/post", body=body,
                   secret_key=secret_key, now=now, http=http)
    entry = answer.get("entry") if isinstance(answer.get("entry"), dict) else {}
    expected = entry_id(str(link.remote_link_id), hold_id)
    if entry.get("id") != expected or answer.get("status") != "posted":
        raise federation.PartnerUnavailable(f"The partner's answer to posting {hold_id} is not a posted hold with "
                                            f"entry {expected}.")
    amount = entry.get("amount_minor")
    if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
        with db.unit_of_work() as session:
            settlement.record_entry(session, entry_id=expected, kind=ENTRY_KIND, debit=link.account,
                                    credit=f"merchant:{link.merchant_id}", amount_minor=amount,
                                    currency=str(entry.get("currency") or ""), merchant_ids=[link.merchant_id],
                                    reference=f"points {hold_id}", now=now)
    return answer


def void_remote_points(db: Database, *, link_id: str, hold_id: str, secret_key: str, now: datetime,
                       http: httpx.Client | None = None) -> dict[str, Any]:
    """Release the held points at the partner (our sale failed or was abandoned)."""
    _check_hold_id(hold_id)
    with db.read() as session:
        link = _target(_link(session, link_id))
    return _call(db, link=link, method="POST", suffix=f"{HOLDS}/{hold_id}/void", body={}, secret_key=secret_key,
                 now=now, http=http)
