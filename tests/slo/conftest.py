"""Fixtures for the SLO engine's tests: a migrated store on each backend."""

from __future__ import annotations

import pytest

from ground.storage import Storage, migrate


@pytest.fixture
def store(storage: Storage) -> Storage:
    """The `storage` fixture (a fresh database, once per backend) with the schema applied."""
    migrate(storage)
    return storage
