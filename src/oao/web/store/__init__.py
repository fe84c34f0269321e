"""The store console (/store): POS, kiosk, pick queue, pickup handover, transfers, returns."""
