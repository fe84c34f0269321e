"""Tables of the settlement domain."""

from __future__ import annotations
