"""HTTP routes of the insights domain."""

from __future__ import annotations

from fastapi import APIRouter

from oao.deps import PROBLEM_RESPONSES

router = APIRouter(tags=["insights"], responses=PROBLEM_RESPONSES)

# --- event log and imports (events helper) ---

# --- recommendations and training runs (serving helper) ---

# --- forecasts and purchase suggestions (replenishment helper) ---
