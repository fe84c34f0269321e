"""HTTP routes of this domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
