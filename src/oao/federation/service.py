"""Use cases of the federation domain."""

from __future__ import annotations
