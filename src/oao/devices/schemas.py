"""Pydantic shapes of the devices API."""

from __future__ import annotations
