"""seats: subscriptions, the seat ledger, auto-upgrade, pro-rated charges, entitlements."""
