"""Certificate schemas: shipped, versioned, and able to reject a malformed certificate."""

from __future__ import annotations

import json

import jsonschema
import pytest

from symbolic_universality.cli import main
from symbolic_universality.schemas import KINDS, schema, validate


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_valid_draft_2020_schema(kind):
    jsonschema.Draft202012Validator.check_schema(schema(kind))


def test_a_written_verify_certificate_validates_and_a_broken_one_does_not(tmp_path):
    out = tmp_path / "c.json"
    assert main(["demo", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["kind"] == "verify" and doc["schema"].endswith("/v1")
    for breakage in ({"status": "probably"}, {"gd_steps": 0}, {"kind": "nonsense"}):
        with pytest.raises(jsonschema.ValidationError):
            validate({**doc, **breakage})
    bad = dict(doc)
    del bad["steps"]
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_the_check_summary_validates(tmp_path):
    from symbolic_universality.suite import CheckOutcome, SuiteResult

    res = SuiteResult([CheckOutcome("a", "verified", "verified", True, "ok", 0.1)], 0.1)
    validate(res.summary())
    with pytest.raises(jsonschema.ValidationError):
        validate({**res.summary(), "ok": "yes"})
