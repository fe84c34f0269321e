"""HTTP API of the catalog: shared products, merchants' offers, CSV imports.

Products belong to the whole network: anyone authenticated reads them, admins
add them. Offers and imports are one merchant's: another merchant's offer
answers 404, a write for another merchant 403.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from oao.catalog import importer, service
from oao.catalog.schemas import (
    ImportFingerprint,
    ImportKind,
    ImportReportOut,
    OfferIn,
    OfferOut,
    OfferPage,
    ProductIn,
    ProductOut,
    ProductPage,
)
from oao.core.auth import Principal
from oao.core.errors import InvalidInput
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent

router = APIRouter(tags=["catalog"])

PROBLEMS = PROBLEM_RESPONSES
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


def _target_merchant(principal: Principal, requested: str | None) -> str:
    """The merchant a write is for: the one asked for, else the caller's own; callers must admin it."""
    merchant_id = requested or principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Give merchant_id: a network admin acts for no merchant by default.")
    principal.ensure_admin_of(merchant_id)
    return merchant_id


# --- products -----------------------------------------------------------------------------

@router.post("/products", response_model=ProductOut, status_code=201, responses=PROBLEMS)
def create_product(body: ProductIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Add a product to the network's shared catalog (merchant and network admins).

    A GTIN already in the catalog is a 409 naming the existing product: use it
    and set your own price with PUT /offers.
    """
    principal = ctx.principal
    principal.ensure_admin_of(principal.merchant_id)
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: ProductOut.model_validate(
        service.create_product(s, gtin=body.gtin, title=body.title, brand=body.brand, category=body.category,
                               attributes=body.attributes, perishable=body.perishable,
                               shelf_life_days=body.shelf_life_days, created_by_merchant_id=principal.merchant_id,
                               now=ctx.now())))


@router.get("/products", response_model=ProductPage, responses=PROBLEMS)
def search_products(ctx: CtxDep, q: Annotated[str | None, Query(max_length=200,
                                                                description="words of the title or brand, "
                                                                            "or a GTIN")] = None,
                    category: str | None = None, limit: Limit = 50, cursor: Cursor = None) -> ProductPage:
    """Search the shared catalog, one page at a time."""
    with ctx.read() as s:
        found, next_cursor = service.search_products(s, q=q, category=category, limit=limit, cursor=cursor)
        return ProductPage(items=[ProductOut.model_validate(p) for p in found], next_cursor=next_cursor)


@router.get("/products/by-gtin/{gtin}", response_model=ProductOut, responses=PROBLEMS)
def product_by_gtin(gtin: str, ctx: CtxDep) -> ProductOut:
    """Find a product by any form of its GTIN (a scanned EAN-13 or UPC-A finds the same product)."""
    with ctx.read() as s:
        return ProductOut.model_validate(service.product_by_gtin(s, gtin=gtin))


@router.get("/products/{product_id}", response_model=ProductOut, responses=PROBLEMS)
def get_product(product_id: str, ctx: CtxDep) -> ProductOut:
    with ctx.read() as s:
        return ProductOut.model_validate(service.get_product(s, product_id=product_id))


# --- offers -------------------------------------------------------------------------------

@router.put("/offers", response_model=OfferOut, responses={**PROBLEMS, 201: {"model": OfferOut,
                                                                                "description": "Created"}})
def put_offer(body: OfferIn, ctx: CtxDep, response: Response) -> OfferOut:
    """Set your price for a product: 201 when new, 200 when changed or already so (a PUT is safe to retry)."""
    merchant_id = _target_merchant(ctx.principal, body.merchant_id)
    with ctx.tx() as s:
        offer, created = service.upsert_offer(s, merchant_id=merchant_id, product_id=body.product_id,
                                              price_minor=body.price_minor, currency=body.currency,
                                              channel_prices=body.channel_prices, active=body.active,
                                              now=ctx.now())
        response.status_code = 201 if created else 200
        return OfferOut.model_validate(offer)


@router.get("/offers", response_model=OfferPage, responses=PROBLEMS)
def list_offers(ctx: CtxDep, product_id: str | None = None, merchant_id: str | None = None,
                limit: Limit = 50, cursor: Cursor = None) -> OfferPage:
    """Your merchant's offers (a network admin sees all, or one merchant's with ?merchant_id=)."""
    principal = ctx.principal
    if merchant_id is not None:
        principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    scope = merchant_id or (None if principal.is_network_admin else principal.merchant_id)
    if scope is None and not principal.is_network_admin:
        return OfferPage(items=[], next_cursor=None)
    with ctx.read() as s:
        found, next_cursor = service.list_offers(s, merchant_id=scope, product_id=product_id, limit=limit,
                                                 cursor=cursor)
        return OfferPage(items=[OfferOut.model_validate(o) for o in found], next_cursor=next_cursor)


@router.get("/offers/{offer_id}", response_model=OfferOut, responses=PROBLEMS)
def get_offer(offer_id: str, ctx: CtxDep) -> OfferOut:
    with ctx.read() as s:
        offer = service.get_offer(s, offer_id=offer_id)
        ctx.principal.ensure_merchant(offer.merchant_id, "offer", offer_id)
        return OfferOut.model_validate(offer)


# --- imports ------------------------------------------------------------------------------

@router.post("/imports/{kind}", response_model=ImportReportOut, responses=PROBLEMS)
def import_file(kind: ImportKind, ctx: CtxDep, request: Request,
                file: Annotated[UploadFile, File(description="CSV, UTF-8, header on line 1")],
                merchant_id: Annotated[str | None, Form(description="defaults to the caller's merchant")] = None,
                idempotency_key: IdempotencyKey = None):
    """Import a CSV of products, offers or stock counts: the whole file or nothing.

    A file with bad rows is a 422 whose `errors` list every bad line and why.
    Columns: products `gtin,title[,brand,category,perishable,shelf_life_days,attributes]`
    (attributes as `key=value;key=value`); offers `gtin,price_minor,currency`
    `[,online_price_minor,store_price_minor,kiosk_price_minor]`; stock `location_id,gtin,on_hand`.
    """
    principal = ctx.principal
    if kind == "products":
        principal.ensure_admin_of(principal.merchant_id)
        target = principal.merchant_id
    elif kind == "stock" and principal.is_network_admin and merchant_id is None:
        target = None  # a network admin may count any merchant's locations
    else:
        target = _target_merchant(principal, merchant_id)
    digest = hashlib.sha256()
    for chunk in iter(lambda: file.file.read(1 << 20), b""):
        digest.update(chunk)
    file.file.seek(0)
    fingerprint = ImportFingerprint(kind=kind, merchant_id=target, sha256=digest.hexdigest())

    def run(s):
        report = importer.import_csv(s, kind=kind, path_or_file=file.file, merchant_id=target, now=ctx.now())
        return ImportReportOut.model_validate(report.as_dict())

    return idempotent(ctx, request, idempotency_key, fingerprint, 200, run)
