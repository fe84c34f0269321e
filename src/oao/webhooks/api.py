"""HTTP routes of the webhooks domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["webhooks"], responses=PROBLEM_RESPONSES)
