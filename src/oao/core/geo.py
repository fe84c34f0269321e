"""Distances and the spatial pre-filter (H3 cells) used by quoting."""

from __future__ import annotations

import math

import h3

EARTH_RADIUS_KM = 6371.0088
# Resolution 5 cells are ~8.5 km across: coarse enough that a 20 km search
# touches a handful of cells, fine enough to skip far-away locations cheaply.
SEARCH_RESOLUTION = 5
_CELL_EDGE_KM = 9.85  # h3 res-5 average edge length, rounded up


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def search_cell(lat: float, lon: float) -> str:
    """The coarse H3 cell a location is indexed under."""
    return h3.latlng_to_cell(lat, lon, SEARCH_RESOLUTION)


def cells_within(lat: float, lon: float, radius_km: float) -> list[str]:
    """All search cells that may hold a point within radius_km of (lat, lon)."""
    rings = max(1, math.ceil(radius_km / _CELL_EDGE_KM) + 1)
    return list(h3.grid_disk(search_cell(lat, lon), rings))


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing the circle; a cheap SQL pre-filter."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    coslat = max(0.01, math.cos(math.radians(lat)))
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * coslat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def valid_coordinates(lat: float, lon: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
