"""Versioned JSON Schemas of every certificate kind: ``verify``, ``prove``, ``run``, ``check``.

Every certificate carries ``"schema": "symbolic_universality/certificate/v1"`` and a
``"kind"``; :func:`validate` checks a document against the schema of its kind (with
jsonschema, the ``test`` extra). Fields beyond the required ones may be added in later
minor versions; a change to a required field bumps ``v1``. docs/api.md documents them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

KINDS = ("verify", "prove", "run", "check")
SCHEMA_ID = "symbolic_universality/certificate/v1"

__all__ = ["KINDS", "SCHEMA_ID", "schema", "validate"]


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of certificate ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"no certificate kind {kind!r}; the kinds are {', '.join(KINDS)}")
    text = resources.files(__name__).joinpath(f"{kind}.schema.json").read_text()
    return dict(json.loads(text))


def validate(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` is a valid certificate of its kind."""
    try:
        import jsonschema
    except ModuleNotFoundError:
        raise ImportError("validating a certificate needs jsonschema; pip install "
                          "'symbolic_universality[test]'") from None
    kind = doc.get("kind")
    if kind not in KINDS:
        raise jsonschema.ValidationError(f"certificate kind {kind!r} is not one of {KINDS}")
    jsonschema.validate(doc, schema(str(kind)))
