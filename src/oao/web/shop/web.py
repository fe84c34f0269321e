"""Storefront pages: browse and search, product pages with what is in stock nearby, the
shopper's location and the cart. Checkout and order pages live in `checkout.py`.

Every page works with plain links and forms (POST, then 303); htmx only swaps
parts in place (add to cart, quantities). The storefront acts as the network
(`STOREFRONT`), so it can show every merchant's offers and stock; what it knows
about the shopper (where she is, her cart) lives in her own signed cookies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.models import Product
from oao.core.errors import Forbidden, NotFound
from oao.core.geo import valid_coordinates
from oao.insights import serving as insights_serving
from oao.inventory import service as inventory
from oao.network import service as network
from oao.network.models import Location
from oao.web.common import ShopDep, current_shopper, is_htmx, render
from oao.web.pages import templates
from oao.web.shop import checkout, devices, member_area, shopper
from oao.web.shop.shopper import Where

router = APIRouter(include_in_schema=False)
router.include_router(member_area.router)
router.include_router(checkout.router)
router.include_router(devices.router)  # /shop/me/devices (S9 connected devices)

NEAR_KM = 10.0  # "near you": a short ride across town, not the warehouse 25 km out
PAGE_SIZE = 24
HOME_PRODUCTS = 8
NEARBY_STORES = 5

templates.env.filters["shop_money"] = shopper.money


# --- shared page context ----------------------------------------------------------------------------

def page_context(request: Request, session: Session | None = None, **extra: Any) -> dict[str, Any]:
    """What the storefront shell shows on every page: who is logged in, the cart, the location."""
    member = current_shopper(request)
    return {"member_name": member.name if member else None, "cart_count": shopper.cart_count(shopper.cart(request)),
            "where": shopper.where(request, session), "here": request.url.path
            + (f"?{request.url.query}" if request.url.query else ""), **extra}


def safe_next(target: str | None, default: str = "/shop") -> str:
    """Only storefront paths, so a form's `next` cannot send the shopper to another site."""
    if target and target.startswith("/shop") and "//" not in target and "\\" not in target:
        return target
    return default


def check_same_origin(request: Request) -> None:
    """Shopper forms carry no session token; refuse POSTs another site's page makes the browser send."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("This form came from another site; open the shop and try again.")


# --- product cards ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Card:
    id: str
    title: str
    brand: str
    category: str
    price: str | None  # the lowest active price, None when nobody sells it now
    seller: str | None
    stores_near: int


def _nearby_stores(session: Session, where: Where, radius_km: float = NEAR_KM) -> list[Location]:
    near = network.locations_near(session, latitude=where.latitude, longitude=where.longitude,
                                  radius_km=radius_km)
    return [loc for loc in near if loc.sells_in_store]


def _merchant_names(session: Session) -> dict[str, str]:
    return {m.id: m.name for m in network.list_merchants(session, merchant_id=None)}


def cards_for(session: Session, products: list[Product], stores: list[Location]) -> list[Card]:
    ids = [p.id for p in products]
    offers = catalog.cheapest_offers(session, product_ids=ids)
    stock = inventory.available_map(session, location_ids=[s.id for s in stores], product_ids=ids)
    counts: dict[str, int] = {}
    for (_, product_id) in stock:
        counts[product_id] = counts.get(product_id, 0) + 1
    names = _merchant_names(session) if offers else {}
    cards = []
    for p in products:
        offer = offers.get(p.id)
        cards.append(Card(id=p.id, title=p.title, brand=p.brand, category=p.category,
                          price=shopper.money(catalog.price_for(offer, "online"), offer.currency) if offer else None,
                          seller=names.get(offer.merchant_id) if offer else None, stores_near=counts.get(p.id, 0)))
    return cards


def _categories(session: Session) -> list[dict[str, Any]]:
    return [{"key": key, "name": shopper.category_name(key), "count": count}
            for key, count in catalog.categories_with_counts(session)]


# --- browse and search ------------------------------------------------------------------------------

@router.get("/shop", response_class=HTMLResponse)
def shop_home(request: Request, ctx: ShopDep) -> HTMLResponse:
    with ctx.read() as session:
        context = page_context(request, session)
        stores = _nearby_stores(session, context["where"])
        top = inventory.products_in_stock_at(session, location_ids=[s.id for s in stores], limit=HOME_PRODUCTS)
        found = catalog.products_by_ids(session, product_ids=[pid for pid, _ in top])
        products = [found[pid] for pid, _ in top if pid in found]
        return render(request, "shop/home.html", {**context, "shop_nav": "home", "categories": _categories(session),
                                                  "cards": cards_for(session, products, stores),
                                                  "stores_near": len(stores)})


@router.get("/shop/search", response_class=HTMLResponse)
def shop_search(request: Request, ctx: ShopDep, q: Annotated[str, Query(max_length=100)] = "",
                category: Annotated[str, Query(max_length=120)] = "",
                after: Annotated[str, Query(max_length=40)] = "") -> HTMLResponse:
    with ctx.read() as session:
        context = page_context(request, session)
        products, next_cursor = catalog.search_products(session, q=q or None, category=category or None,
                                                        limit=PAGE_SIZE, cursor=after or None)
        stores = _nearby_stores(session, context["where"])
        more = (f"/shop/search?q={quote(q)}&category={quote(category)}&after={next_cursor}"
                if next_cursor else None)
        return render(request, "shop/search.html", {
            **context, "q": q, "category": category, "category_label": shopper.category_name(category),
            "categories": _categories(session), "cards": cards_for(session, products, stores), "more": more})


# --- product page -----------------------------------------------------------------------------------

def _rating(product: Product) -> dict[str, Any] | None:
    """The catalog's rating, when a merchant's import supplied one (attributes rating / rating_count)."""
    attributes = product.attributes or {}
    try:
        value = float(attributes["rating"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= value <= 5:
        return None
    count = attributes.get("rating_count") or attributes.get("reviews")
    return {"value": round(value, 1), "stars": round(value), "count": int(count) if str(count).isdigit() else None}


def _availability(session: Session, product_id: str, where: Where, now: Any) -> list[dict[str, Any]]:
    stocked = network.locations_near(session, latitude=where.latitude, longitude=where.longitude,
                                     radius_km=25.0, location_ids=inventory.stocked_location_ids([product_id]),
                                     limit=NEARBY_STORES * 2)
    stores = [loc for loc in stocked if loc.sells_in_store][:NEARBY_STORES]
    units = inventory.available_map(session, location_ids=[s.id for s in stores], product_ids=[product_id])
    rows = []
    for loc in stores:
        is_open, open_text = shopper.open_words(loc, now)
        available = units.get((loc.id, product_id), 0)
        rows.append({"name": loc.name, "address": shopper.street(loc.address),
                     "distance": shopper.km(where.km_to(loc.latitude, loc.longitude)), "open": is_open,
                     "open_text": open_text, "few": available if available <= 3 else None})
    return rows


@router.get("/shop/products/{product_id}", response_class=HTMLResponse)
def product_page(request: Request, product_id: str, ctx: ShopDep) -> HTMLResponse:
    with ctx.read() as session:
        product = catalog.get_product(session, product_id=product_id[:40])
        context = page_context(request, session)
        offers = catalog.active_offers(session, product_ids=[product.id])
        names = _merchant_names(session)
        sellers = sorted((catalog.price_for(o, "online"), names.get(o.merchant_id, ""), o.currency)
                          for o in offers.values())
        if offers:  # insight event log (events helper): the view counts for the seller shown first
            from oao.insights.events import record_storefront_view

            viewer = current_shopper(request)
            record_storefront_view(ctx.db, product_id=product.id, at=ctx.now(),
                                   member_id=viewer.member_id if viewer else None,
                                   merchant_id=min(offers.values(), key=lambda o: (
                                       catalog.price_for(o, "online"), names.get(o.merchant_id, ""),
                                       o.currency)).merchant_id)
        return render(request, "shop/product.html", {
            **context, "product": product, "category_label": shopper.category_name(product.category),
            "rating": _rating(product),
            "price": shopper.money(sellers[0][0], sellers[0][2]) if sellers else None,
            "seller": sellers[0][1] if sellers else None,
            "other_sellers": [{"name": n, "price": shopper.money(p, c)} for p, n, c in sellers[1:]],
            "nearby": _availability(session, product.id, context["where"], ctx.now()),
            # "Often bought together" (insights): the sellers' item neighbours they hold in stock somewhere.
            "together": insights_serving.bought_together_anywhere(session, product_id=product.id, limit=4),
            "in_cart": shopper.cart(request).get(product.id, 0)})


# --- the shopper's location ---------------------------------------------------------------------------

@router.get("/shop/location", response_class=HTMLResponse)
def location_page(request: Request, ctx: ShopDep, next: Annotated[str, Query(max_length=500)] = "/shop"
                  ) -> HTMLResponse:
    with ctx.read() as session:
        return render(request, "shop/location.html", {**page_context(request, session), "next": safe_next(next),
                                                      "areas": shopper.areas(session), "error": None,
                                                      "address": ""})


@router.post("/shop/location", response_class=HTMLResponse)
def set_location(request: Request, ctx: ShopDep, latitude: Annotated[str, Form(max_length=30)] = "",
                 longitude: Annotated[str, Form(max_length=30)] = "", area: Annotated[str, Form(max_length=80)] = "",
                 address: Annotated[str, Form(max_length=200)] = "",
                 next: Annotated[str, Form(max_length=500)] = "/shop") -> Response:
    """From the browser's geolocation (latitude/longitude), a picked area, or a typed address."""
    check_same_origin(request)
    with ctx.read() as session:
        choice: tuple[float, float, str] | None = None
        error = None
        if latitude and longitude:
            try:
                lat, lon = float(latitude), float(longitude)
            except ValueError:
                lat, lon = 999.0, 999.0
            if valid_coordinates(lat, lon):
                choice = (lat, lon, "your location")
            else:
                error = "Your browser sent a location we could not read; pick an area instead."
        elif address.strip():
            found = shopper.match_address(session, address)
            if found is None:
                error = (f"We could not find “{address.strip()}”. Try a neighbourhood or street such as "
                         "Hubin or Pinghai Road, or pick an area from the list.")
            else:
                choice = (found.latitude, found.longitude, found.name)
        elif area:
            found = next_area_by_key(session, area)
            if found is None:
                error = "Pick an area from the list."
            else:
                choice = (found.latitude, found.longitude, found.name)
        else:
            error = "Use your location, pick an area or type an address."
        if choice is None:
            return render(request, "shop/location.html", {**page_context(request, session), "next": safe_next(next),
                                                          "areas": shopper.areas(session), "error": error,
                                                          "address": address}, status=422)
    response = RedirectResponse(safe_next(next), status_code=303)
    shopper.remember_where(request, response, latitude=choice[0], longitude=choice[1], label=choice[2])
    return response


def next_area_by_key(session: Session, key: str) -> shopper.Area | None:
    return next((a for a in shopper.areas(session) if a.key == key), None)


# --- the cart -----------------------------------------------------------------------------------------

def cart_view(session: Session, lines: dict[str, int]) -> dict[str, Any]:
    products = catalog.products_by_ids(session, product_ids=list(lines))
    offers = catalog.cheapest_offers(session, product_ids=list(products))
    rows, total, currency = [], 0, None
    for product_id, quantity in lines.items():
        product = products.get(product_id)
        if product is None:
            continue  # gone from the catalog since it was added: dropped quietly
        offer = offers.get(product_id)
        unit = catalog.price_for(offer, "online") if offer else None
        if offer is not None and unit is not None:
            currency = currency or offer.currency
            total += unit * quantity
        rows.append({"id": product_id, "title": product.title, "brand": product.brand, "quantity": quantity,
                     "unit": shopper.money(unit, offer.currency) if offer and unit is not None else None,
                     "line_total": shopper.money(unit * quantity, offer.currency) if offer and unit is not None
                     else None})
    return {"rows": rows, "total": shopper.money(total, currency) if currency else None,
            "max_quantity": shopper.MAX_QUANTITY}


@router.get("/shop/cart", response_class=HTMLResponse)
def cart_page(request: Request, ctx: ShopDep) -> HTMLResponse:
    with ctx.read() as session:
        return render(request, "shop/cart.html", {**page_context(request, session), "shop_nav": "cart",
                                                  **cart_view(session, shopper.cart(request))})


def _after_cart_change(request: Request, ctx: Any, lines: dict[str, int], *, fragment: str, message: str,
                       redirect_to: str, extra: dict[str, Any] | None = None) -> Response:
    if is_htmx(request):
        with ctx.read() as session:
            response: Response = render(request, fragment, {
                **page_context(request, session), **cart_view(session, lines), **(extra or {}),
                "cart_count": shopper.cart_count(lines), "message": message, "oob_cart": True})
    else:
        response = RedirectResponse(redirect_to, status_code=303)
    shopper.save_cart(request, response, lines)
    return response


def _quantity(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 1
    return max(0, min(value, shopper.MAX_QUANTITY))


@router.post("/shop/cart/add", response_class=HTMLResponse)
def cart_add(request: Request, ctx: ShopDep, product_id: Annotated[str, Form(max_length=40)] = "",
             quantity: Annotated[str, Form(max_length=5)] = "1") -> Response:
    check_same_origin(request)
    with ctx.read() as session:
        product = catalog.products_by_ids(session, product_ids=[product_id]).get(product_id)
        if product is None:
            raise NotFound("That product is no longer in the catalog.")
        session.expunge(product)  # read below, after this read transaction has ended
    lines = shopper.cart(request)
    if product.id not in lines and len(lines) >= shopper.MAX_CART_LINES:
        return _after_cart_change(request, ctx, lines, fragment="shop/_added.html", redirect_to="/shop/cart",
                                  message=f"Your cart is full ({shopper.MAX_CART_LINES} products).",
                                  extra={"product": product, "full": True})
    lines[product.id] = min(lines.get(product.id, 0) + max(1, _quantity(quantity)), shopper.MAX_QUANTITY)
    return _after_cart_change(request, ctx, lines, fragment="shop/_added.html", redirect_to="/shop/cart",
                              message=f"Added {product.title}.", extra={"product": product, "full": False})


@router.post("/shop/cart/update", response_class=HTMLResponse)
def cart_update(request: Request, ctx: ShopDep, product_id: Annotated[str, Form(max_length=40)] = "",
                quantity: Annotated[str, Form(max_length=5)] = "1",
                remove: Annotated[str, Form(max_length=5)] = "") -> Response:
    """Set a line's quantity; 0 or the remove button takes it out."""
    check_same_origin(request)
    lines = shopper.cart(request)
    amount = 0 if remove else _quantity(quantity)
    message = ""
    if product_id in lines:
        if amount == 0:
            del lines[product_id]
            message = "Removed from your cart."
        else:
            lines[product_id] = amount
            message = "Quantity updated."
    return _after_cart_change(request, ctx, lines, fragment="shop/_cart_body.html", redirect_to="/shop/cart",
                              message=message)
