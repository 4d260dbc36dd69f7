"""Every setting of `service/settings.py` is where a user looks for it: a row of the contract's
configuration table (docs/contract.md, whose rows may shorten `CALLCTL_KAFKA__SASL_USERNAME`,
`__SASL_PASSWORD` to the suffix), and a line of deploy/env/production.env.example, which says it
holds every setting (commented out when it has no production value)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from service.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]


def variables(model: type[BaseModel], prefix: str = ENV_PREFIX) -> Iterator[str]:
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from variables(annotation, variable + ENV_NESTED_DELIMITER)
        else:
            yield variable


def contract_variables() -> set[str]:
    text = (ROOT / "docs/contract.md").read_text()
    table = text[text.index("## Configuration") :]
    table = table[: table.index("\n## ", 1)]
    named: set[str] = set()
    for row in (line for line in table.splitlines() if line.startswith("| `CALLCTL_")):
        first = row.split("|")[1]
        names = re.findall(r"`(CALLCTL_[A-Z0-9_]+|__[A-Z0-9_]+)`", first)
        section = names[0].rsplit(ENV_NESTED_DELIMITER, 1)[0]
        named.update(n if n.startswith(ENV_PREFIX) else f"{section}{n}" for n in names)
    return named


def test_every_setting_has_a_row_in_the_contract() -> None:
    missing = sorted(set(variables(Settings)) - contract_variables())
    assert not missing, f"docs/contract.md#configuration does not describe {missing}"


def test_every_setting_is_in_the_production_env_example() -> None:
    text = (ROOT / "deploy/env/production.env.example").read_text()
    written = set(re.findall(r"^#? ?(CALLCTL_[A-Z0-9_]+)=", text, re.MULTILINE))
    missing = sorted(set(variables(Settings)) - written)
    assert not missing, f"deploy/env/production.env.example lacks {missing}"
    unknown = sorted(written - set(variables(Settings)))
    assert not unknown, f"deploy/env/production.env.example names no setting: {unknown}"
