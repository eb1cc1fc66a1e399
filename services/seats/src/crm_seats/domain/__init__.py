"""Seat rules, free of I/O."""
