"""HTTP routes of the settlement domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["settlement"], responses=PROBLEM_RESPONSES)
