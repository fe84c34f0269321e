"""HTTP routes of the sharing domain: policies, the disclosure log, aggregated statistics for partners."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from oao.core.errors import InvalidInput
from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep
from oao.sharing import aggregates, service
from oao.sharing.classes import DATA_CLASSES, PURPOSES, RECIPIENT_KINDS, registered_kinds
from oao.sharing.policy import effective_min_group_size
from oao.sharing.schemas import DisclosureOut, EffectivePolicyOut, PolicyIn, PolicyOut, VocabularyOut

router = APIRouter(prefix="/sharing", tags=["sharing"], responses=PROBLEM_RESPONSES)
RecipientKind = Annotated[str, Path(description=f"one of {', '.join(RECIPIENT_KINDS)}")]
RecipientId = Annotated[str, Path(min_length=1, max_length=200, description="the recipient; `*` for the default")]
MerchantQuery = Annotated[str | None, Query(max_length=40, description="owner merchant (network admins only)")]


def min_group_size_floor(ctx: Ctx) -> int:
    """The network's k (setting `sharing_min_group_size`, default 20)."""
    return ctx.settings.sharing_min_group_size


def _owner(ctx: Ctx, merchant_id: str | None) -> str:
    """The merchant whose policies/disclosures are meant: the caller's own; network admins name one."""
    if ctx.principal.is_network_admin:
        if merchant_id is None:
            raise InvalidInput("Network admins say whose policies they mean with ?merchant_id=.")
        return merchant_id
    ctx.principal.ensure_merchant(merchant_id or ctx.principal.merchant_id, "merchant", merchant_id or "")
    return ctx.principal.merchant_id  # type: ignore[return-value]


@router.get("/vocabulary", response_model=VocabularyOut)
def vocabulary(ctx: CtxDep) -> VocabularyOut:
    """Data classes, purposes, recipient kinds and every registered outbound payload kind with its fields."""
    return VocabularyOut(data_classes=sorted(DATA_CLASSES), purposes=PURPOSES, recipient_kinds=list(RECIPIENT_KINDS),
                         payload_kinds={k: dict(v.fields) for k, v in sorted(registered_kinds().items())},
                         default_min_group_size=min_group_size_floor(ctx))


@router.put("/policies/{recipient_kind}/{recipient_id}", response_model=PolicyOut)
def put_policy(recipient_kind: RecipientKind, recipient_id: RecipientId, body: PolicyIn, ctx: CtxDep,
               merchant_id: MerchantQuery = None) -> PolicyOut:
    """Set your policy for a recipient (recipient_id `*`: the default for that kind) as a new version.

    Unknown data classes or purposes are a 422. The same document again creates no new version.
    """
    owner = _owner(ctx, merchant_id)
    with ctx.tx() as s:
        row = service.put_policy(s, principal=ctx.principal, owner_merchant_id=owner, recipient_kind=recipient_kind,
                                 recipient_id=recipient_id, document=body.document(), now=ctx.now())
        return PolicyOut.model_validate(row)


@router.get("/policies", response_model=list[PolicyOut])
def list_policies(ctx: CtxDep, merchant_id: MerchantQuery = None, recipient_kind: str | None = None,
                  recipient_id: str | None = None,
                  history: Annotated[bool, Query(description="every version, not only current ones")] = False,
                  ) -> list[PolicyOut]:
    """Your policies (current versions; with history=true all versions)."""
    owner = _owner(ctx, merchant_id)
    with ctx.read() as s:
        return [PolicyOut.model_validate(p) for p in service.list_policies(
            s, owner_merchant_id=owner, recipient_kind=recipient_kind, recipient_id=recipient_id, history=history)]


@router.get("/policies/{recipient_kind}/{recipient_id}", response_model=EffectivePolicyOut)
def effective_policy(recipient_kind: RecipientKind, recipient_id: RecipientId, ctx: CtxDep,
                     merchant_id: MerchantQuery = None) -> EffectivePolicyOut:
    """What decides for this recipient now: the baseline or your default for its kind, plus its own policy."""
    owner = _owner(ctx, merchant_id)
    with ctx.read() as s:
        policy, versions = service.effective_policy(s, owner_merchant_id=owner, recipient_kind=recipient_kind,
                                                    recipient_id=recipient_id)
    return EffectivePolicyOut(recipient_kind=recipient_kind, recipient_id=recipient_id,
                              document=policy.to_document(), versions=versions,
                              min_group_size=effective_min_group_size(policy, min_group_size_floor(ctx)))


@router.get("/disclosures", response_model=list[DisclosureOut])
def list_disclosures(ctx: CtxDep, merchant_id: MerchantQuery = None, recipient_kind: str | None = None,
                     recipient_id: str | None = None, payload_kind: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     before: Annotated[str | None, Query(description="id of the last entry of the previous page")]
                     = None) -> list[DisclosureOut]:
    """Who got which data classes of yours, for what purpose, when (newest first). Never the values."""
    owner = _owner(ctx, merchant_id)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a timezone (e.g. 2026-01-01T00:00:00Z).")
    with ctx.read() as s:
        return [DisclosureOut.model_validate(d) for d in service.list_disclosures(
            s, owner_merchant_id=owner, recipient_kind=recipient_kind, recipient_id=recipient_id, since=since,
            until=until, payload_kind=payload_kind, limit=limit, before_id=before)]


@router.get("/aggregates")
def get_aggregates(ctx: CtxDep, owner_merchant_id: Annotated[str, Query(min_length=1, max_length=40)],
                   purpose: Annotated[str, Query(min_length=1, max_length=30)],
                   group_by: Annotated[list[str], Query(description="brand, category, age_band, gender")],
                   gender: str | None = None, age_min: Annotated[int | None, Query(ge=0, le=150)] = None,
                   age_max: Annotated[int | None, Query(ge=0, le=150)] = None, brand: str | None = None,
                   category: str | None = None, location_id: str | None = None,
                   near_lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
                   near_lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
                   radius_km: Annotated[float | None, Query(gt=0, le=200)] = None,
                   since: datetime | None = None) -> dict[str, Any]:
    """Statistics a partner may have of another merchant's member sales (S3): distinct members and units per
    group, only groups of at least k members. Needs the owner's policy (usually an accepted agreement)
    permitting aggregated_stats to your merchant for that purpose (403 otherwise)."""
    recipient = ctx.principal.merchant_id
    if recipient is None:
        raise InvalidInput("Aggregates are shared with a merchant; call with a merchant's key.")
    group = [g for item in group_by for g in item.split(",") if g]
    filters = {"gender": gender, "age_min": age_min, "age_max": age_max, "brand": brand, "category": category,
               "location_id": location_id, "near_lat": near_lat, "near_lon": near_lon, "radius_km": radius_km,
               "since": since}
    with ctx.tx() as s:  # a write: the disclosure
        return aggregates.aggregate_for_partner(s, owner_merchant_id=owner_merchant_id,
                                                recipient_merchant_id=recipient, purpose=purpose, group_by=group,
                                                filters=filters, now=ctx.now(),
                                                min_group_size_floor=min_group_size_floor(ctx))
