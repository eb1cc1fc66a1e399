"""Notification rules, free of I/O."""
