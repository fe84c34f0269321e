"""Root-level federation routes: the well-known discovery document (same as /api/v1/federation/identity)."""

from __future__ import annotations

from fastapi import APIRouter

from oao.federation.api import identity

router = APIRouter(tags=["federation"])
router.add_api_route("/.well-known/oao-federation", identity, methods=["GET"],
                     summary="This instance's federation key and endpoints (public)")
