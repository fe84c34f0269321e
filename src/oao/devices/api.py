"""HTTP routes of the devices domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["devices"], responses=PROBLEM_RESPONSES)
