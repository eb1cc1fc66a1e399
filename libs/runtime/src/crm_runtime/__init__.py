"""Shared runtime of the crm-platform services: consumer, batches, offsets, outbox, inbox, dead letters, HTTP."""
