"""Test-only plugins: one of each kind of extension, built the way CONTRIBUTING.md says, to
prove the file counts written there (``tests/project/test_plugins.py``)."""
