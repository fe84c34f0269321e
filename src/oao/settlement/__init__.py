"""Money between merchants: a double-entry ledger of what the operator collected and owes, statements."""
