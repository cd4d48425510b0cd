"""The verifier tests' fixtures ``key``, ``log`` and ``bundle``, loaded with
``pytest_plugins = ["tests.bundle_plugin"]`` (a module of its own, so that pytest imports it
before the test module does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.bundle_fixtures import Entry, make_log, sign_sizes, write


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log() -> list[Entry]:
    return make_log(40)


@pytest.fixture
def bundle(tmp_path: Path, key: Ed25519PrivateKey, log: list[Entry]) -> Path:
    """40 entries with signed checkpoints at sizes 10, 25 and 40."""
    return write(tmp_path / "bundle", key, log, sign_sizes(key, log, [10, 25, 40]))
