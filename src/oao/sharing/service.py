"""Use cases of the sharing domain: policies (versioned), the outbound projection
every payload leaving OAO goes through, and the disclosure log.

Which policy decides: the network baseline for the recipient kind (what the
cooperation cannot work without, e.g. amount and reference for a payment
provider), the owner's default for that kind (which replaces the baseline when
set), and the owner's policy for that very recipient. Permissions of the layers
add up; a prohibition of any layer wins; a few network prohibitions (line items
to payment providers) can never be lifted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.auth import Principal
from oao.core.errors import Conflict, InvalidInput
from oao.core.ids import new_id
from oao.core.outbox import mark_consumed, record_event, unconsumed
from oao.network.models import Merchant
from oao.sharing import kinds  # noqa: F401 - registers every payload kind before the first projection
from oao.sharing.classes import PURPOSES, RECIPIENT_KINDS
from oao.sharing.classes import payload_kind as payload_kind_of
from oao.sharing.models import ANY_RECIPIENT, Disclosure, SharingPolicy
from oao.sharing.policy import Policy, PolicyError, combine, parse_policy, project

log = logging.getLogger("oao.sharing")

# What each kind of recipient gets when the owner set nothing for that kind: only
# what the cooperation itself needs. An owner's default for the kind replaces it.
_BASELINE_DOCS: dict[str, dict[str, Any]] = {
    "payment_provider": {"permissions": [
        {"data_class": c, "purposes": ["payment"]}
        for c in ("order_reference", "basket_total", "merchant_reference", "payment_status")]},
    "webhook_subscriber": {"permissions": [
        {"data_class": c, "purposes": ["integration"]}
        for c in ("order_reference", "merchant_reference", "basket_total", "line_items", "product_sales", "catalog",
                  "stock_levels", "fulfillment_status", "location", "payment_status", "member_reference", "loyalty",
                  "account_admin")]},
    "federated_instance": {"permissions": [
        *({"data_class": c, "purposes": ["fulfillment"]}
          for c in ("order_reference", "merchant_reference", "fulfillment_status", "location", "pickup_code",
                    "member_profile.first_name")),
        *({"data_class": c, "purposes": ["settlement"]}
          for c in ("order_reference", "merchant_reference", "basket_total"))]},
    "partner_merchant": {"permissions": [
        *({"data_class": c, "purposes": ["fulfillment"]}
          for c in ("order_reference", "merchant_reference", "fulfillment_status", "location", "pickup_code",
                    "member_profile.first_name")),
        *({"data_class": c, "purposes": ["settlement"]}
          for c in ("order_reference", "merchant_reference", "basket_total"))]},
}
BASELINES: dict[str, Policy] = {kind: parse_policy(doc) for kind, doc in _BASELINE_DOCS.items()}

# Never lifted by any owner policy: a wallet provider learns amount and store, never the basket (S4).
NETWORK_PROHIBITIONS: dict[str, Policy] = {
    "payment_provider": parse_policy({"prohibitions": [
        {"data_class": c, "purposes": None}
        for c in ("line_items", "product_sales", "catalog", "stock_levels", "device_readings", "member_profile")]}),
}


def _check_recipient_kind(recipient_kind: str) -> None:
    if recipient_kind not in RECIPIENT_KINDS:
        raise InvalidInput(f"Unknown recipient kind {recipient_kind!r}; known: {', '.join(RECIPIENT_KINDS)}.",
                           errors=[{"loc": ["recipient_kind"], "msg": "unknown recipient kind"}])


def check_purpose(purpose: str) -> None:
    """422 for a purpose outside the vocabulary."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"Unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}.",
                           errors=[{"loc": ["purpose"], "msg": "unknown purpose"}])


def _current(session: Session, *, owner_merchant_id: str, recipient_kind: str,
             recipient_id: str) -> SharingPolicy | None:
    return session.scalar(select(SharingPolicy).where(
        SharingPolicy.owner_merchant_id == owner_merchant_id, SharingPolicy.recipient_kind == recipient_kind,
        SharingPolicy.recipient_id == recipient_id, SharingPolicy.superseded_at.is_(None)))


def effective_policy(session: Session, *, owner_merchant_id: str, recipient_kind: str,
                     recipient_id: str) -> tuple[Policy, list[str]]:
    """The policy that decides for this recipient, and the ids of the stored versions it came from."""
    _check_recipient_kind(recipient_kind)
    layers: list[Policy] = []
    versions: list[str] = []
    default = _current(session, owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
                       recipient_id=ANY_RECIPIENT)
    if default is not None:
        layers.append(parse_policy(default.document))
        versions.append(default.id)
    else:
        layers.append(BASELINES.get(recipient_kind, Policy()))
    if recipient_id != ANY_RECIPIENT:
        specific = _current(session, owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
                            recipient_id=recipient_id)
        if specific is not None:
            layers.append(parse_policy(specific.document))
            versions.append(specific.id)
    if recipient_kind in NETWORK_PROHIBITIONS:
        layers.append(NETWORK_PROHIBITIONS[recipient_kind])
    return combine(*layers), versions


def project_outbound(session: Session, *, owner_merchant_id: str, recipient_kind: str, recipient_id: str,
                     purpose: str, payload_kind: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The payload reduced to what the owner's policy lets this recipient have for this purpose.

    Deny by default: a field leaves only if its registered data class is
    permitted and not prohibited; fields no registration covers never leave.
    Records a disclosure (classes sent and withheld, never values) in the
    caller's transaction. EVERY payload leaving OAO goes through here.
    """
    check_purpose(purpose)
    policy, versions = effective_policy(session, owner_merchant_id=owner_merchant_id,
                                        recipient_kind=recipient_kind, recipient_id=recipient_id)
    kind = payload_kind_of(payload_kind)
    if kind is None:
        log.warning("payload kind %r is not registered: nothing of it is sent", payload_kind)
    result = project(payload, kind, policy, purpose)
    session.add(Disclosure(
        id=new_id("dis"), owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
        recipient_id=recipient_id, payload_kind=payload_kind, purpose=purpose,
        classes_sent=sorted(result.sent), classes_withheld=sorted(result.withheld - result.sent),
        unclassified_fields=sorted(result.unclassified)[:50], policy_versions=versions, at=now))
    session.flush()
    return result.payload




# --- policies ---------------------------------------------------------------------------------------------

def check_policy_document(document: dict[str, Any] | None) -> dict[str, Any]:
    """The document normalised, or InvalidInput (422) naming every unknown class, purpose or key.

    Agreements call this when terms are proposed, so a bad data_sharing term fails early.
    """
    try:
        return parse_policy(document).to_document()
    except PolicyError as exc:
        raise InvalidInput(f"Invalid data-sharing policy: {exc}", errors=exc.errors) from None


def _check_recipient(session: Session, *, owner_merchant_id: str, recipient_kind: str, recipient_id: str) -> None:
    _check_recipient_kind(recipient_kind)
    if not recipient_id or len(recipient_id) > 200:
        raise InvalidInput("recipient_id is 1 to 200 characters (\"*\" for every recipient of that kind).")
    if recipient_kind == "partner_merchant" and recipient_id != ANY_RECIPIENT:
        if recipient_id == owner_merchant_id:
            raise InvalidInput("A merchant needs no policy for itself.")
        if session.get(Merchant, recipient_id) is None:
            raise InvalidInput(f"No merchant {recipient_id!r} to share with.",
                               errors=[{"loc": ["recipient_id"], "msg": "unknown merchant"}])


WRITE_ATTEMPTS = 3


def _write_policy(session: Session, *, owner_merchant_id: str, recipient_kind: str, recipient_id: str,
                  document: dict[str, Any], source: str, agreement_id: str | None, created_by: str | None,
                  now: datetime) -> SharingPolicy:
    """A new version superseding the current one; concurrent writers each get their own version.

    FOR UPDATE serialises writers only once a current version exists: two first writes (or a writer
    whose locked row was superseded while it waited, on PostgreSQL) both pick the same version number
    and the unique (owner, recipient, version) refuses the later one. That one is retried in a
    savepoint against what is committed now, so the last writer wins and no version is lost.
    """
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with session.begin_nested():
                return _write_policy_once(session, owner_merchant_id=owner_merchant_id,
                                          recipient_kind=recipient_kind, recipient_id=recipient_id,
                                          document=document, source=source, agreement_id=agreement_id,
                                          created_by=created_by, now=now)
        except IntegrityError:
            if attempt == WRITE_ATTEMPTS - 1:
                raise Conflict(f"The {recipient_kind} policy for {recipient_id} kept changing while it was being "
                               "written; read it again and retry.") from None
    raise AssertionError("unreachable")


def _write_policy_once(session: Session, *, owner_merchant_id: str, recipient_kind: str, recipient_id: str,
                       document: dict[str, Any], source: str, agreement_id: str | None, created_by: str | None,
                       now: datetime) -> SharingPolicy:
    current = session.scalar(select(SharingPolicy).where(
        SharingPolicy.owner_merchant_id == owner_merchant_id, SharingPolicy.recipient_kind == recipient_kind,
        SharingPolicy.recipient_id == recipient_id, SharingPolicy.superseded_at.is_(None))
        .with_for_update().execution_options(populate_existing=True))
    version = 1
    if current is not None:
        if current.document == document and current.source == source and current.agreement_id == agreement_id:
            return current  # same terms again: no new version
        current.superseded_at = now
        version = current.version + 1
        session.flush()
    row = SharingPolicy(id=new_id("shp"), owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
                        recipient_id=recipient_id, version=version, document=document, source=source,
                        agreement_id=agreement_id, created_by=created_by, created_at=now, superseded_at=None)
    session.add(row)
    session.flush()
    record_event(session, type="sharing.policy_updated", subject_id=row.id, merchant_id=owner_merchant_id,
                 payload={"policy_id": row.id, "recipient_kind": recipient_kind, "recipient_id": recipient_id,
                          "version": version, "source": source, "agreement_id": agreement_id}, at=now)
    return row


def put_policy(session: Session, *, principal: Principal, owner_merchant_id: str, recipient_kind: str,
               recipient_id: str, document: dict[str, Any], now: datetime) -> SharingPolicy:
    """Set the owner's policy for a recipient (or a kind's default, recipient_id "*") as a new version."""
    principal.ensure_admin_of(owner_merchant_id)
    _check_recipient(session, owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
                     recipient_id=recipient_id)
    return _write_policy(session, owner_merchant_id=owner_merchant_id, recipient_kind=recipient_kind,
                         recipient_id=recipient_id, document=check_policy_document(document), source="api",
                         agreement_id=None, created_by=principal.id, now=now)


def list_policies(session: Session, *, owner_merchant_id: str, recipient_kind: str | None = None,
                  recipient_id: str | None = None, history: bool = False) -> list[SharingPolicy]:
    """The owner's current policies (with `history`, every version), by recipient then version."""
    query = select(SharingPolicy).where(SharingPolicy.owner_merchant_id == owner_merchant_id)
    if recipient_kind is not None:
        query = query.where(SharingPolicy.recipient_kind == recipient_kind)
    if recipient_id is not None:
        query = query.where(SharingPolicy.recipient_id == recipient_id)
    if not history:
        query = query.where(SharingPolicy.superseded_at.is_(None))
    return list(session.scalars(query.order_by(SharingPolicy.recipient_kind, SharingPolicy.recipient_id,
                                               SharingPolicy.version)))


def apply_agreement_policy(session: Session, *, owner_merchant_id: str, partner_merchant_id: str,
                           document: dict[str, Any] | None, agreement_id: str, now: datetime) -> SharingPolicy | None:
    """An accepted agreement's data_sharing terms become the owner's policy for that partner.

    `document` None (an agreement without data sharing, or one that ended) withdraws what an earlier
    agreement granted, but leaves a policy the owner set by hand alone.
    """
    current = _current(session, owner_merchant_id=owner_merchant_id, recipient_kind="partner_merchant",
                       recipient_id=partner_merchant_id)
    if document is None:
        if current is None or current.source != "agreement" or not current.document.get("permissions"):
            return current
        normalised = parse_policy(None).to_document()
    else:
        normalised = check_policy_document(document)
    return _write_policy(session, owner_merchant_id=owner_merchant_id, recipient_kind="partner_merchant",
                         recipient_id=partner_merchant_id, document=normalised, source="agreement",
                         agreement_id=agreement_id, created_by=None, now=now)


AGREEMENT_CONSUMER = "sharing.agreements"
AGREEMENT_EVENTS = ("partner_agreement.accepted", "partner_agreement.ended")


def _parties(payload: dict[str, Any]) -> list[str]:
    """The two merchants an agreement event names, whatever the keys (`*_merchant_id`, `merchant_ids`)."""
    found: list[str] = []
    for key, value in payload.items():
        if key.endswith("merchant_id") and isinstance(value, str):
            found.append(value)
    found += [v for v in payload.get("merchant_ids") or [] if isinstance(v, str)]
    return sorted(set(found))


def apply_agreements_from_outbox(session: Session, *, now: datetime, limit: int = 100) -> int:
    """Exactly-once consumer: accepted agreements' data_sharing terms become both parties' policies for
    each other (the terms are mutual); an ended agreement withdraws them. Returns events handled."""
    events = unconsumed(session, consumer=AGREEMENT_CONSUMER, types=AGREEMENT_EVENTS, limit=limit)
    for event in events:
        parties = _parties(event.payload)
        if len(parties) == 2:
            terms = event.payload.get("terms") or {}
            document = terms.get("data_sharing") if event.type.endswith(".accepted") else None
            for owner, partner in (parties, parties[::-1]):
                try:
                    apply_agreement_policy(session, owner_merchant_id=owner, partner_merchant_id=partner,
                                           document=document, agreement_id=event.subject_id, now=now)
                except InvalidInput:
                    log.warning("agreement %s: data_sharing terms not applied (invalid)", event.subject_id)
        else:
            log.warning("agreement event %s does not name two merchants", event.id)
        mark_consumed(session, consumer=AGREEMENT_CONSUMER, event_id=event.id, at=now)
    return len(events)


# --- disclosures ------------------------------------------------------------------------------------------

def list_disclosures(session: Session, *, owner_merchant_id: str, recipient_kind: str | None = None,
                     recipient_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
                     payload_kind: str | None = None, limit: int = 100,
                     before_id: str | None = None) -> list[Disclosure]:
    """The owner's disclosure log, newest first (page with `before_id`)."""
    query = select(Disclosure).where(Disclosure.owner_merchant_id == owner_merchant_id)
    if recipient_kind is not None:
        query = query.where(Disclosure.recipient_kind == recipient_kind)
    if recipient_id is not None:
        query = query.where(Disclosure.recipient_id == recipient_id)
    if since is not None:
        query = query.where(Disclosure.at >= since)
    if until is not None:
        query = query.where(Disclosure.at < until)
    if payload_kind is not None:
        query = query.where(Disclosure.payload_kind == payload_kind)
    if before_id is not None:
        query = query.where(Disclosure.id < before_id)
    return list(session.scalars(query.order_by(Disclosure.id.desc()).limit(limit)))
