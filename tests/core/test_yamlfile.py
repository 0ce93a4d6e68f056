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


def test_a_key_given_twice_is_refused_naming_both_lines() -> None:
    text = (
        "defaults:\n"
        '  checks: {drift: "0 * * * *"}\n'
        '  checks: {performance: "0 6 * * *"}\n'
        "models:\n"
        "  - {id: b, name: B, name: B2}\n"
    )
    with pytest.raises(YamlError) as caught:
        load_yaml(text, "fleet.yaml")
    message = str(caught.value)
    assert "fleet.yaml:3: duplicate key 'checks' (first at line 2)" in message
    assert "fleet.yaml:5: duplicate key 'name' (first at line 5)" in message


def test_a_duplicate_secret_shaped_key_is_not_echoed() -> None:
    key = "https://u:hunter2@example.com/x"
    with pytest.raises(YamlError) as caught:
        load_yaml(f'"{key}": 1\n"{key}": 2\n', "f.yaml")
    assert "hunter2" not in str(caught.value) and "f.yaml:2: duplicate key" in str(caught.value)


def test_aliases_are_refused_before_any_expansion() -> None:
    # 9 ** 5 values once expanded (each level multiplies by 9): refused from the parse
    # events, in time linear in the text, whatever the expansion.
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 5):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append("models: *a4")
    with pytest.raises(YamlError, match=r"f.yaml:2: YAML aliases \(\*name\) are not allowed"):
        load_yaml("\n".join(lines) + "\n", "f.yaml")


def test_the_id_of_an_item_is_not_shown_when_it_looks_like_a_secret() -> None:
    document = load_yaml("models:\n  - id: xoxb-123456789012-abcdefSECRET\n    threshold: -1\n")
    with pytest.raises(ValidationError) as err:
        File.model_validate(document.data)
    (line,) = describe_errors(err.value, document)
    assert "SECRET" not in line and "models[0] (id not shown) > threshold" in line
