"""Use cases of the settlement domain."""

from __future__ import annotations
