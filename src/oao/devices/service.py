"""Use cases of the devices domain."""

from __future__ import annotations
