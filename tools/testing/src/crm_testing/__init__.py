"""Helpers the test suites share. Installed in the development environment only (`make install`),
never in a service image."""
