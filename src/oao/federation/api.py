"""HTTP routes of the federation domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["federation"], responses=PROBLEM_RESPONSES)
