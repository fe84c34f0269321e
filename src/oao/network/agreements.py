"""Partner agreements between two merchants: proposals, versions, decisions, and the lookups
every cooperative feature asks before it acts ("is there an accepted agreement covering this?").

Keyword-only functions over a Session; they never commit. Re-exported by
oao.network.service, which is where other domains call them.

A version's terms never change once written and versions are never deleted,
so the lookups can answer for any moment: the terms in force at `at` are
those of the last version accepted at or before `at`, provided the agreement
had not ended by then. Ending at T therefore stops new orders (placed at or
after T) and still covers the orders placed before T.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.db import get_or_404
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.loyalty.models import Programme
from oao.network.models import LIVE_AGREEMENT_STATUSES, Merchant, PartnerAgreement, PartnerAgreementVersion
from oao.network.terms import PickupTerms, PointsTerms, ReferralTerms, check_terms, other_party

Version = PartnerAgreementVersion


def pair_key(merchant_a: str, merchant_b: str) -> str:
    """The same key whichever merchant proposed."""
    return "|".join(sorted((merchant_a, merchant_b)))


def parties(agreement: PartnerAgreement) -> tuple[str, str]:
    return agreement.proposer_merchant_id, agreement.counterparty_merchant_id


def _merchant(session: Session, merchant_id: str) -> Merchant:
    return get_or_404(session, Merchant, merchant_id, "merchant")


def _checked_terms(session: Session, terms: Any, pair: tuple[str, str]) -> dict[str, Any]:
    """check_terms plus the rules that need the database (currencies, programme owners)."""
    out = check_terms(terms, parties=pair)
    if (pickup := out["pickup"]) is not None:
        host = _merchant(session, pickup["host_merchant_id"])
        if pickup["currency"] != host.currency:
            raise InvalidInput(f"terms.pickup.currency must be the host's currency {host.currency}, "
                               f"got {pickup['currency']}.")
    if (points := out["points"]) is not None:
        issuer = other_party(pair, points["acceptor_merchant_id"])
        programme = session.get(Programme, points["issuer_programme_id"])
        if programme is None or programme.merchant_id != issuer:
            raise InvalidInput(f"terms.points.issuer_programme_id {points['issuer_programme_id']!r} is not a "
                               f"loyalty programme of {issuer}, the party whose points are accepted.")
    return out


def _party_check(agreement: PartnerAgreement, merchant_id: str | None, doing: str) -> None:
    if merchant_id is not None and merchant_id not in parties(agreement):
        raise Forbidden(f"Only the two parties of agreement {agreement.id} may {doing}.")


def _event(session: Session, kind: str, agreement: PartnerAgreement, version: Version | None,
           by_merchant_id: str | None, now: datetime) -> None:
    record_event(session, type=f"partner_agreement.{kind}", subject_id=agreement.id,
                 merchant_id=by_merchant_id or agreement.proposer_merchant_id,
                 payload={"agreement_id": agreement.id, "status": agreement.status,
                          "proposer_merchant_id": agreement.proposer_merchant_id,
                          "counterparty_merchant_id": agreement.counterparty_merchant_id,
                          "merchant_ids": sorted(parties(agreement)),
                          "version": version.version if version else None,
                          "terms": version.terms if version else None,
                          "by_merchant_id": by_merchant_id}, at=now)


# --- reading ---------------------------------------------------------------------------------

def get_agreement(session: Session, *, agreement_id: str) -> PartnerAgreement:
    return get_or_404(session, PartnerAgreement, agreement_id, "partner agreement")


def list_agreements(session: Session, *, merchant_id: str | None) -> list[PartnerAgreement]:
    """Agreements a merchant is party to (either side), or all of them (merchant_id None)."""
    query = select(PartnerAgreement).order_by(PartnerAgreement.created_at, PartnerAgreement.id)
    if merchant_id is not None:
        query = query.where(or_(PartnerAgreement.proposer_merchant_id == merchant_id,
                                PartnerAgreement.counterparty_merchant_id == merchant_id))
    return list(session.scalars(query))


def agreement_versions(session: Session, *, agreement_ids: Iterable[str]) -> dict[str, list[Version]]:
    """Every version of these agreements, oldest first, keyed by agreement id."""
    ids = sorted(set(agreement_ids))
    out: dict[str, list[Version]] = {agreement_id: [] for agreement_id in ids}
    for start in range(0, len(ids), 500):
        for row in session.scalars(select(Version).where(Version.agreement_id.in_(ids[start:start + 500]))
                                   .order_by(Version.agreement_id, Version.version)):
            out[row.agreement_id].append(row)
    return out


def get_version(session: Session, *, agreement_id: str, version: int) -> Version:
    row = session.scalar(select(Version).where(Version.agreement_id == agreement_id, Version.version == version))
    if row is None:
        raise NotFound(f"Agreement {agreement_id} has no version {version}.")
    return row


def _pending(session: Session, agreement: PartnerAgreement) -> Version | None:
    latest = get_version(session, agreement_id=agreement.id, version=agreement.latest_version)
    return latest if latest.status == "proposed" else None


def _live(session: Session, merchant_a: str, merchant_b: str) -> PartnerAgreement | None:
    return session.scalar(select(PartnerAgreement).where(
        PartnerAgreement.pair_key == pair_key(merchant_a, merchant_b),
        PartnerAgreement.status.in_(LIVE_AGREEMENT_STATUSES)))


# --- proposing and deciding ------------------------------------------------------------------

def propose_agreement(session: Session, *, proposer_merchant_id: str, counterparty_merchant_id: str,
                      terms: dict[str, Any], now: datetime) -> PartnerAgreement:
    """Propose an agreement (version 1); nothing applies until the counterparty accepts.

    Proposing the very same terms again while they wait returns the same
    agreement (a retried request); anything else for a pair that already has a
    live agreement is a 409 naming it: change that one with a new version.
    """
    if proposer_merchant_id == counterparty_merchant_id:
        raise InvalidInput("A merchant needs no agreement with itself; pick another counterparty merchant.")
    _merchant(session, proposer_merchant_id)
    _merchant(session, counterparty_merchant_id)
    checked = _checked_terms(session, terms, (proposer_merchant_id, counterparty_merchant_id))
    live = _live(session, proposer_merchant_id, counterparty_merchant_id)
    if live is not None:
        return _same_proposal_or_conflict(session, live, proposer_merchant_id, checked)
    agreement = PartnerAgreement(
        id=new_id("agr"), proposer_merchant_id=proposer_merchant_id, counterparty_merchant_id=counterparty_merchant_id,
        pair_key=pair_key(proposer_merchant_id, counterparty_merchant_id), status="proposed", current_version=None,
        latest_version=1, created_at=now, accepted_at=None, ended_at=None, ended_by_merchant_id=None)
    try:
        # A concurrent proposal for the same pair may have passed the check above too: the partial unique
        # index lets only one become live. The savepoint keeps the caller's transaction usable for the answer.
        with session.begin_nested():
            session.add(agreement)
            session.flush()
    except IntegrityError:
        live = _live(session, proposer_merchant_id, counterparty_merchant_id)  # committed by the other one
        if live is None:
            raise Conflict("Another proposal between these merchants was being recorded at the same moment; "
                           "list your agreements and try again.") from None
        return _same_proposal_or_conflict(session, live, proposer_merchant_id, checked)
    version = Version(id=new_id("agv"), agreement_id=agreement.id, version=1, terms=checked, status="proposed",
                      proposed_by_merchant_id=proposer_merchant_id, proposed_at=now, decided_at=None,
                      decided_by_merchant_id=None)
    session.add(version)
    session.flush()
    _event(session, "proposed", agreement, version, proposer_merchant_id, now)
    return agreement


def _same_proposal_or_conflict(session: Session, live: PartnerAgreement, proposer_merchant_id: str,
                               checked: dict[str, Any]) -> PartnerAgreement:
    """The live agreement if it is this very proposal (a retried request), else a 409 naming it."""
    pending = _pending(session, live) if live.status == "proposed" else None
    if (pending is not None and pending.version == 1 and pending.terms == checked
            and pending.proposed_by_merchant_id == proposer_merchant_id):
        return live
    raise Conflict(f"Agreement {live.id} between these merchants is already {live.status}; propose a new "
                   f"version of it (POST /partner-agreements/{live.id}/versions) or end it first.",
                   agreement_id=live.id)


def propose_version(session: Session, *, agreement_id: str, proposer_merchant_id: str, terms: dict[str, Any],
                    now: datetime) -> Version:
    """Either party proposes new terms; they replace the current ones only once the other accepts.

    A proposal still waiting is superseded by the new one (a counter-offer);
    the same terms proposed again by the same party return the waiting version.
    """
    agreement = get_agreement(session, agreement_id=agreement_id)
    _party_check(agreement, proposer_merchant_id, "propose terms")
    if agreement.status not in LIVE_AGREEMENT_STATUSES:
        raise InvalidState(f"Agreement {agreement.id} is {agreement.status}; propose a new agreement instead.")
    checked = _checked_terms(session, terms, parties(agreement))
    pending = _pending(session, agreement)
    if pending is not None:
        if pending.terms == checked and pending.proposed_by_merchant_id == proposer_merchant_id:
            return pending
        pending.status, pending.decided_at, pending.decided_by_merchant_id = "superseded", now, proposer_merchant_id
    agreement.latest_version += 1
    version = Version(id=new_id("agv"), agreement_id=agreement.id, version=agreement.latest_version, terms=checked,
                      status="proposed", proposed_by_merchant_id=proposer_merchant_id, proposed_at=now,
                      decided_at=None, decided_by_merchant_id=None)
    session.add(version)
    session.flush()
    _event(session, "proposed", agreement, version, proposer_merchant_id, now)
    return version


def _decidable(session: Session, agreement: PartnerAgreement, version: int, done: str) -> Version:
    row = get_version(session, agreement_id=agreement.id, version=version)
    if agreement.status not in LIVE_AGREEMENT_STATUSES:
        raise InvalidState(f"Agreement {agreement.id} is {agreement.status}; no proposal of it can be {done}.")
    if row.status != "proposed":
        raise InvalidState(f"Version {version} of agreement {agreement.id} is {row.status}; only the waiting "
                           f"proposal (version {agreement.latest_version}) can be {done}.")
    return row


def accept_version(session: Session, *, agreement_id: str, version: int, accepting_merchant_id: str | None,
                   now: datetime) -> PartnerAgreement:
    """The party that did not propose this version accepts it; its terms apply from now.

    accepting_merchant_id None: the network operator accepts on that party's
    behalf (an agreement signed outside OAO). Accepting the version already in
    force again changes nothing, so a retried accept is harmless.
    """
    agreement = get_agreement(session, agreement_id=agreement_id)
    _party_check(agreement, accepting_merchant_id, "accept terms")
    if agreement.current_version == version and agreement.status == "active":
        return agreement
    row = _decidable(session, agreement, version, "accepted")
    if accepting_merchant_id == row.proposed_by_merchant_id:
        other = other_party(parties(agreement), accepting_merchant_id)
        raise Forbidden(f"A merchant cannot accept its own proposal; version {version} waits for {other} "
                        f"to accept it.")
    row.status, row.decided_at, row.decided_by_merchant_id = "accepted", now, accepting_merchant_id
    agreement.status, agreement.current_version = "active", version
    agreement.accepted_at = agreement.accepted_at or now
    session.flush()
    _event(session, "accepted", agreement, row, accepting_merchant_id, now)
    return agreement


def decline_version(session: Session, *, agreement_id: str, version: int, declining_merchant_id: str | None,
                    now: datetime) -> PartnerAgreement:
    """The other party refuses a proposal. Declining a first proposal closes the agreement;
    declining new terms leaves the accepted ones in force."""
    agreement = get_agreement(session, agreement_id=agreement_id)
    _party_check(agreement, declining_merchant_id, "decline terms")
    row = _decidable(session, agreement, version, "declined")
    if declining_merchant_id == row.proposed_by_merchant_id:
        raise Forbidden(f"Version {version} is your own proposal: withdraw it "
                        f"(POST /partner-agreements/{agreement.id}/withdraw) rather than decline it.")
    return _close_proposal(session, agreement, row, "declined", declining_merchant_id, now)


def withdraw_version(session: Session, *, agreement_id: str, version: int, withdrawing_merchant_id: str | None,
                     now: datetime) -> PartnerAgreement:
    """The proposer takes back its waiting proposal."""
    agreement = get_agreement(session, agreement_id=agreement_id)
    _party_check(agreement, withdrawing_merchant_id, "withdraw terms")
    row = _decidable(session, agreement, version, "withdrawn")
    if withdrawing_merchant_id is not None and withdrawing_merchant_id != row.proposed_by_merchant_id:
        raise Forbidden(f"Only the merchant that proposed version {version} may withdraw it; decline it instead.")
    return _close_proposal(session, agreement, row, "withdrawn", withdrawing_merchant_id, now)


def _close_proposal(session: Session, agreement: PartnerAgreement, row: Version, outcome: str,
                    by_merchant_id: str | None, now: datetime) -> PartnerAgreement:
    row.status, row.decided_at, row.decided_by_merchant_id = outcome, now, by_merchant_id
    if agreement.status == "proposed":  # nothing was ever accepted: the agreement is over
        agreement.status, agreement.ended_at, agreement.ended_by_merchant_id = outcome, now, by_merchant_id
    session.flush()
    _event(session, outcome, agreement, row, by_merchant_id, now)
    return agreement


def end_agreement(session: Session, *, agreement_id: str, now: datetime,
                  ended_by_merchant_id: str | None = None) -> PartnerAgreement:
    """Either party (None: the network operator) ends an active agreement.

    From `now` no new order gets its terms; orders placed before keep them
    (the lookups answer by the time an order was placed). A proposal still
    waiting is withdrawn with it.
    """
    agreement = get_agreement(session, agreement_id=agreement_id)
    _party_check(agreement, ended_by_merchant_id, "end it")
    if agreement.status == "ended":
        raise InvalidState(f"Agreement {agreement.id} already ended at {agreement.ended_at}.")
    if agreement.status != "active":
        raise InvalidState(f"Agreement {agreement.id} is {agreement.status}, not active; a proposal is declined "
                           "or withdrawn rather than ended.")
    pending = _pending(session, agreement)
    if pending is not None:
        pending.status, pending.decided_at, pending.decided_by_merchant_id = "withdrawn", now, ended_by_merchant_id
    agreement.status, agreement.ended_at, agreement.ended_by_merchant_id = "ended", now, ended_by_merchant_id
    session.flush()
    assert agreement.current_version is not None  # active implies an accepted version
    current = get_version(session, agreement_id=agreement.id, version=agreement.current_version)
    _event(session, "ended", agreement, current, ended_by_merchant_id, now)
    return agreement


def create_pickup_agreement(session: Session, *, host_merchant_id: str, guest_merchant_id: str,
                            pickup_fee_minor: int, now: datetime, accept: bool = True) -> PartnerAgreement:
    """Shortcut for the simplest agreement: the host proposes pickup for the guest's orders.

    accept=True (network operator, demo data, CLI): the operator records it
    as accepted at once on the guest's behalf; accept=False leaves it for the
    guest to accept.
    """
    if pickup_fee_minor < 0:
        raise InvalidInput(f"pickup_fee_minor cannot be negative, got {pickup_fee_minor}.")
    if host_merchant_id == guest_merchant_id:
        raise InvalidInput("A merchant needs no agreement with itself; pick another guest merchant.")
    host = _merchant(session, host_merchant_id)
    terms = {"pickup": {"host_merchant_id": host_merchant_id, "fee_minor": pickup_fee_minor,
                        "currency": host.currency}}
    agreement = propose_agreement(session, proposer_merchant_id=host_merchant_id,
                                  counterparty_merchant_id=guest_merchant_id, terms=terms, now=now)
    if accept:
        agreement = accept_version(session, agreement_id=agreement.id, version=1, accepting_merchant_id=None, now=now)
    return agreement


# --- lookups: what is in force at a moment ---------------------------------------------------

def _in_force(session: Session, *, at: datetime, pair: tuple[str, str] | None = None,
              party: str | None = None) -> list[tuple[PartnerAgreement, Version]]:
    """(agreement, version in force) for agreements accepted by `at` and not ended by then."""
    query = (select(PartnerAgreement, Version).join(Version, Version.agreement_id == PartnerAgreement.id)
             .where(PartnerAgreement.status.in_(("active", "ended")), PartnerAgreement.accepted_at <= at,
                    or_(PartnerAgreement.ended_at.is_(None), PartnerAgreement.ended_at > at),
                    Version.status == "accepted", Version.decided_at <= at))
    if pair is not None:
        query = query.where(PartnerAgreement.pair_key == pair_key(*pair))
    if party is not None:
        query = query.where(or_(PartnerAgreement.proposer_merchant_id == party,
                                PartnerAgreement.counterparty_merchant_id == party))
    best: dict[str, tuple[PartnerAgreement, Version]] = {}
    for agreement, version in session.execute(query):
        seen = best.get(agreement.id)
        if seen is None or (version.decided_at, version.version) > (seen[1].decided_at, seen[1].version):
            best[agreement.id] = (agreement, version)
    # Newest agreement first, should a pair ever have had two covering the same moment.
    return sorted(best.values(), key=lambda pv: (pv[0].accepted_at, pv[0].id), reverse=True)


def pickup_terms(session: Session, *, host_merchant_id: str, guest_merchant_id: str,
                 at: datetime) -> PickupTerms | None:
    """The pickup terms under which the host's partner pickup points take the guest's orders at `at`."""
    if host_merchant_id == guest_merchant_id:
        return None
    for agreement, version in _in_force(session, at=at, pair=(host_merchant_id, guest_merchant_id)):
        pickup = version.terms.get("pickup")
        if pickup and pickup["host_merchant_id"] == host_merchant_id:
            return PickupTerms(agreement_id=agreement.id, version=version.version, host_merchant_id=host_merchant_id,
                               guest_merchant_id=guest_merchant_id, fee_minor=pickup["fee_minor"],
                               currency=pickup["currency"])
    return None


def referral_terms(session: Session, *, referrer_merchant_id: str, seller_merchant_id: str,
                   at: datetime) -> ReferralTerms | None:
    """The commission the referrer earns selling the seller's products at `at`."""
    if referrer_merchant_id == seller_merchant_id:
        return None
    for agreement, version in _in_force(session, at=at, pair=(referrer_merchant_id, seller_merchant_id)):
        referral = version.terms.get("referral")
        if referral and referral["referrer_merchant_id"] == referrer_merchant_id:
            return ReferralTerms(agreement_id=agreement.id, version=version.version,
                                 referrer_merchant_id=referrer_merchant_id, seller_merchant_id=seller_merchant_id,
                                 commission_bps=referral["commission_bps"])
    return None


def points_terms(session: Session, *, acceptor_merchant_id: str, issuer_programme_id: str,
                 at: datetime) -> PointsTerms | None:
    """At what value the acceptor takes the issuer programme's points at `at`."""
    for agreement, version in _in_force(session, at=at, party=acceptor_merchant_id):
        points = version.terms.get("points")
        if (points and points["acceptor_merchant_id"] == acceptor_merchant_id
                and points["issuer_programme_id"] == issuer_programme_id):
            return PointsTerms(agreement_id=agreement.id, version=version.version,
                               acceptor_merchant_id=acceptor_merchant_id,
                               issuer_merchant_id=other_party(parties(agreement), acceptor_merchant_id),
                               issuer_programme_id=issuer_programme_id, value_minor=points["value_minor"],
                               value_points=points["value_points"])
    return None


def pickup_partners(session: Session, *, at: datetime | None = None) -> set[tuple[str, str]]:
    """(host_merchant_id, guest_merchant_id) pairs with pickup terms in force.

    at None: as the agreements stand now (active, current version), which is
    what quoting a new order needs; with `at`, as they stood then.
    """
    if at is None:
        rows = list(session.execute(
            select(PartnerAgreement, Version)
            .join(Version, (Version.agreement_id == PartnerAgreement.id)
                  & (Version.version == PartnerAgreement.current_version))
            .where(PartnerAgreement.status == "active")))
    else:
        rows = _in_force(session, at=at)
    pairs = set()
    for agreement, version in rows:
        pickup = version.terms.get("pickup")
        if pickup:
            host = pickup["host_merchant_id"]
            pairs.add((host, other_party(parties(agreement), host)))
    return pairs
