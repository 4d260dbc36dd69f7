"""Contract tests: the committed schemas and examples against the models and the decoder.

The schemas are read from the committed files (what other teams consume), not regenerated: the
drift test is what ties the files to the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from service import schema_export

SCHEMAS = schema_export.REPO_ROOT / schema_export.SCHEMA_DIR


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def validator(topic: str) -> Draft202012Validator:
    schema = load_json(SCHEMAS / f"{topic}.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="session")
def commands_validator() -> Draft202012Validator:
    return validator(schema_export.TOPICS.commands)


@pytest.fixture(scope="session")
def results_validator() -> Draft202012Validator:
    return validator(schema_export.TOPICS.results)


@pytest.fixture(scope="session")
def snapshots_validator() -> Draft202012Validator:
    return validator(schema_export.TOPICS.snapshots)


@pytest.fixture(scope="session")
def conferences_validator() -> Draft202012Validator:
    return validator(schema_export.TOPICS.conferences)
