"""HTTP routes of the webhooks domain: subscriptions, deliveries with their
attempts, replay. Nothing here sends: the worker does (webhooks.sender)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from oao.core.auth import Principal
from oao.core.errors import InvalidInput
from oao.deps import PROBLEM_RESPONSES, Ctx, CtxDep, IdempotencyKey, idempotent
from oao.webhooks import service
from oao.webhooks.models import WebhookSubscription
from oao.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    RotateIn,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionWithSecret,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)


def _scope(principal: Principal) -> str | None:
    return None if principal.is_network_admin else (principal.merchant_id or "-")


def _with_secret(sub: WebhookSubscription, secret: str) -> SubscriptionWithSecret:
    return SubscriptionWithSecret.model_validate({**SubscriptionOut.model_validate(sub).model_dump(),
                                                  "secret": secret})


def _own_subscription(ctx: Ctx, session: Session, subscription_id: str, *, admin: bool) -> WebhookSubscription:
    sub = service.get_subscription(session, subscription_id=subscription_id)
    ctx.principal.ensure_merchant(sub.merchant_id, "webhook subscription", subscription_id)
    if admin:
        ctx.principal.ensure_admin_of(sub.merchant_id)
    return sub


@router.post("/subscriptions", response_model=SubscriptionWithSecret, status_code=201)
def create_subscription(body: SubscriptionIn, ctx: CtxDep, request: Request,
                        idempotency_key: IdempotencyKey = None):
    """Subscribe an endpoint to your merchant's events. The signing secret is in this response only."""
    merchant_id = body.merchant_id or ctx.principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Give merchant_id: a network admin acts for no merchant by default.")
    ctx.principal.ensure_admin_of(merchant_id)
    allow = service.allow_private_hosts(ctx.settings)
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: _with_secret(*service.create_subscription(
        s, merchant_id=merchant_id, url=body.url, event_types=body.event_types, purpose=body.purpose,
        description=body.description, allow_private=allow, now=ctx.now())))


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(ctx: CtxDep) -> list[SubscriptionOut]:
    with ctx.read() as s:
        return [SubscriptionOut.model_validate(x)
                for x in service.list_subscriptions(s, merchant_id=_scope(ctx.principal))]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(subscription_id: str, ctx: CtxDep) -> SubscriptionOut:
    with ctx.read() as s:
        return SubscriptionOut.model_validate(_own_subscription(ctx, s, subscription_id, admin=False))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def update_subscription(subscription_id: str, body: SubscriptionPatch, ctx: CtxDep) -> SubscriptionOut:
    """Change the URL, event types or purpose, or switch the subscription off and on."""
    with ctx.tx() as s:
        _own_subscription(ctx, s, subscription_id, admin=True)
        sub = service.update_subscription(s, subscription_id=subscription_id, now=ctx.now(),
                                          allow_private=service.allow_private_hosts(ctx.settings),
                                          **body.model_dump(exclude_unset=True))
        return SubscriptionOut.model_validate(sub)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: str, ctx: CtxDep) -> Response:
    """Stop delivering to this endpoint; pending deliveries are cancelled, history is kept."""
    with ctx.tx() as s:
        _own_subscription(ctx, s, subscription_id, admin=True)
        service.delete_subscription(s, subscription_id=subscription_id, now=ctx.now())
    return Response(status_code=204)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret)
def rotate_secret(subscription_id: str, ctx: CtxDep, request: Request, body: RotateIn | None = None,
                  idempotency_key: IdempotencyKey = None):
    """A new signing secret (shown once). The old one keeps signing too for `keep_previous_hours`."""
    rotate = body or RotateIn()
    with ctx.read() as s:
        _own_subscription(ctx, s, subscription_id, admin=True)
    return idempotent(ctx, request, idempotency_key, rotate, 200, lambda s: _with_secret(*service.rotate_secret(
        s, subscription_id=subscription_id, keep_previous_hours=rotate.keep_previous_hours, now=ctx.now())))


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(ctx: CtxDep, subscription_id: str | None = None, status: DeliveryStatus | None = None,
                    event_id: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryOut]:
    """Deliveries, newest first: filter by subscription, status or event id."""
    with ctx.read() as s:
        if subscription_id is not None:
            _own_subscription(ctx, s, subscription_id, admin=False)
        found = service.list_deliveries(s, merchant_id=_scope(ctx.principal), subscription_id=subscription_id,
                                        status=status, event_id=event_id, limit=limit)
        return [DeliveryOut.model_validate(d) for d in found]


def _detail(ctx: Ctx, s: Session, delivery_id: str) -> DeliveryDetail:
    delivery = service.get_delivery(s, delivery_id=delivery_id)
    ctx.principal.ensure_merchant(delivery.merchant_id, "webhook delivery", delivery_id)
    out = DeliveryOut.model_validate(delivery).model_dump()
    return DeliveryDetail.model_validate({**out, "body": delivery.body, "attempts": [
        AttemptOut.model_validate(a) for a in service.attempts_of(s, delivery_id=delivery_id)]})


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: str, ctx: CtxDep) -> DeliveryDetail:
    """A delivery with every attempt (time, duration, status code, error) and the body last sent."""
    with ctx.read() as s:
        return _detail(ctx, s, delivery_id)


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut, status_code=202)
def replay_delivery(delivery_id: str, ctx: CtxDep) -> DeliveryOut:
    """Send the event again with the same event id (receivers dedupe on OAO-Event-Id). Queued: the
    worker sends it on its next round, as a new attempt."""
    with ctx.tx() as s:
        delivery = service.get_delivery(s, delivery_id=delivery_id)
        ctx.principal.ensure_merchant(delivery.merchant_id, "webhook delivery", delivery_id)
        ctx.principal.ensure_admin_of(delivery.merchant_id)
        return DeliveryOut.model_validate(service.replay_delivery(s, delivery_id=delivery_id, now=ctx.now()))
