"""YAML files validated by pydantic: errors name the file, the line and the item."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from slack_alerts.yamlfile import YamlError, describe_errors, load_yaml


class Entry(BaseModel):
    id: str
    threshold: float = Field(gt=0)


class File(BaseModel):
    models: list[Entry]


TEXT = """\
models:
  - id: a
    threshold: 0.1
  - id: sepsis-v4
    threshold: -1
  - threshold: 2
"""


def test_errors_name_the_line_the_item_and_the_field() -> None:
    document = load_yaml(TEXT, "fleet.yaml")
    with pytest.raises(ValidationError) as err:
        File.model_validate(document.data)
    lines = describe_errors(err.value, document)
    assert (
        "fleet.yaml:5: models[1] (sepsis-v4) > threshold: Input should be greater than 0" in lines
    )
    assert any(line.startswith("fleet.yaml:6: models[2] > id: Field required") for line in lines)


def test_rejected_values_are_never_repeated() -> None:
    document = load_yaml("models:\n  - id: a\n    threshold: https://hooks.slack.com/x\n", "f")
    with pytest.raises(ValidationError) as err:
        File.model_validate(document.data)
    assert "hooks.slack.com" not in "\n".join(describe_errors(err.value, document))


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(YamlError, match=r"f.yaml:2: not valid YAML"):
        load_yaml("models:\n  - id: a: b\n", "f.yaml")
