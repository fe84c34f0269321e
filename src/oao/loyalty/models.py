"""Tables of this domain."""

from __future__ import annotations
