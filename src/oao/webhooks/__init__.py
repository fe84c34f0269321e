"""Merchants' webhook subscriptions and signed, retried, replayable deliveries."""
