"""Tables of the sharing domain."""

from __future__ import annotations
