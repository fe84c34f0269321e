"""Use cases of the insights domain: recommendations served from precomputed tables, training runs."""

from __future__ import annotations
