"""Shared test configuration.

Every certificate the test suite writes (through ``symbolic_universality.files``) is
validated against the JSON Schema of its kind; an invalid one fails the test that wrote it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _certificates_validate_against_their_schema(monkeypatch):
    from symbolic_universality import files
    from symbolic_universality.schemas import SCHEMA_ID, validate

    original = files.write_json
    written: list[str] = []

    def checked(path, data, what="certificate"):
        if isinstance(data, dict) and data.get("schema") == SCHEMA_ID:
            validate(data)  # raises jsonschema.ValidationError: the test fails
            written.append(str(path))
        return original(path, data, what)

    monkeypatch.setattr(files, "write_json", checked)
    yield written
