"""Coalition loyalty: programmes, a double-entry points ledger, earning rules, spending,
conversion, expiry, tiers and settlement entries between merchants."""
