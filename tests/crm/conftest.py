"""Fixtures of these API tests: the foundation's App on a real database with the demo tenant."""

from tests.foundation.conftest import api, sqlite_api  # noqa: F401  (the fixtures, shared)
