"""Inspect AI tasks shipped with the portal; ``inspect`` suites may run only these."""
