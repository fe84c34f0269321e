"""The merchant dashboard (/console): sales, stock, catalog, locations and staff."""
