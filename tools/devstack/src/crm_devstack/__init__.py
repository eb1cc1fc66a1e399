"""The local stack: everything `make up` starts, and the handle tests use to restart services."""
