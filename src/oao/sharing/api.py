"""HTTP routes of the sharing domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["sharing"], responses=PROBLEM_RESPONSES)
