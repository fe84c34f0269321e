"""Pydantic shapes of the insights API."""

from __future__ import annotations

# --- event log and imports (events helper) ---

# --- recommendations and training runs (serving helper) ---

# --- forecasts and purchase suggestions (replenishment helper) ---
