"""YAML files validated by pydantic, with errors that name the line.

``load_yaml(text)`` parses YAML (safe: plain data only) and remembers where
each value starts, so ``describe_errors(error, document)`` can turn a
``pydantic.ValidationError`` into lines such as::

    fleet.yaml:42: models[3] (id sepsis-v4) > thresholds > psi_warning: Input should be
    greater than 0

The value itself is never repeated: it may be a secret put in the wrong field.

Two YAML features are refused, each naming the line: a key given twice in one
mapping (YAML keeps the last one, silently dropping the first), and anchors'
aliases (``*name``), whose nested expansion can turn a small file into
billions of values (an "alias bomb").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from slack_alerts.text import looks_like_secret

Location = tuple[int | str, ...]


class YamlError(ValueError):
    """The file is not valid YAML; the message names the line."""


@dataclass
class YamlDocument:
    """Plain data from a YAML file, and the line (1-based) where each value starts."""

    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    name: str = "<yaml>"

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, or of its nearest enclosing value."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, location: Location, lines: dict[Location, int]) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*location, key.value)] = key.start_mark.line + 1
                _walk(value, (*location, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*location, index), lines)


def _duplicate_keys(node: yaml.Node, name: str, found: list[tuple[int, str]]) -> None:
    """Every key given twice in one mapping: (line, ``file:line: ...``) pairs (nodes are a
    tree here: aliases are refused before this walk)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first:
                    shown = _shown_key(key.value)
                    found.append(
                        (
                            line,
                            f"{name}:{line}: duplicate key {shown} (first at line "
                            f"{first[key.value]}): YAML would keep only the last one; merge them "
                            "into one",
                        )
                    )
                else:
                    first[key.value] = line
            _duplicate_keys(value, name, found)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, name, found)


def _shown_key(key: str) -> str:
    if looks_like_secret(key) or "://" in key:
        return "(a key that looks like a URL or a token, not shown)"
    return repr(key if len(key) <= 60 else key[:60] + "…")


def _refuse_aliases(text: str, name: str) -> None:
    """Raise ``YamlError`` at the first alias (``*name``); the parse is linear in the text."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise YamlError(
                f"{name}:{line}: YAML aliases (*name) are not allowed: write the value out "
                "(in a fleet file, `defaults` and `groups` share settings between models)"
            )


def load_yaml(text: str, name: str = "<yaml>") -> YamlDocument:
    """Parse ``text``; raise ``YamlError`` naming the line when it is not valid YAML,
    uses an alias, or gives a key twice in one mapping."""
    try:
        _refuse_aliases(text, name)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise YamlError(f"{where}: not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: not valid YAML ({type(exc).__name__})") from None
    lines: dict[Location, int] = {}
    if node is not None:
        duplicates: list[tuple[int, str]] = []
        _duplicate_keys(node, name, duplicates)
        if duplicates:
            raise YamlError("\n".join(line for _, line in sorted(duplicates)))
        _walk(node, (), lines)
    return YamlDocument(data, lines, name)


def _shown_id(ident: str) -> str:
    # An id is echoed to name the item, unless it is shaped like a secret.
    return "id not shown" if looks_like_secret(ident) or "://" in ident else ident


def _label(location: Location, document: YamlDocument, names: Sequence[str]) -> str:
    parts: list[str] = []
    current: Any = document.data
    for part in location:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(current, list) and 0 <= part < len(current):
                current = current[part]
                ident = next(
                    (current.get(n) for n in names if isinstance(current, dict) and current.get(n)),
                    None,
                )
                if isinstance(ident, str):
                    label += f" ({_shown_id(ident)})"
            parts[-1:] = [(parts[-1] if parts else "") + label]
            continue
        parts.append(str(part))
        current = current.get(part) if isinstance(current, dict) else None
    return " > ".join(parts) or "(top level)"


def describe_errors(
    error: ValidationError, document: YamlDocument, identifiers: Sequence[str] = ("id", "name")
) -> list[str]:
    """One line per validation error: file, line, the path (items named by their
    ``id``), and pydantic's message, never the rejected value."""
    described = []
    for item in error.errors(include_input=False, include_url=False):
        location = tuple(
            part
            for part in item["loc"]
            if not (isinstance(part, str) and part.startswith("function-"))
        )
        line = document.line_of(location)
        where = f"{document.name}:{line}" if line is not None else document.name
        message = str(item["msg"]).removeprefix("Value error, ")
        described.append(f"{where}: {_label(location, document, identifiers)}: {message}")
    return described
