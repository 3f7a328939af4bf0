"""The parameter table in docs/algorithm.md lists exactly the fields of DestripeParams."""

import dataclasses
import re
from pathlib import Path

from jwst1f.params import DestripeParams

DOC = Path(__file__).resolve().parents[1] / "docs" / "algorithm.md"


def _documented_parameters() -> dict[str, str]:
    text = DOC.read_text()
    section = text.split("## 6. Parameters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", section, flags=re.M)
    return {name: default.strip() for name, default in rows}


def test_every_parameter_is_documented_once_with_its_default():
    documented = _documented_parameters()
    fields = {f.name: f.default for f in dataclasses.fields(DestripeParams)}
    assert set(documented) == set(fields)
    for name, default in fields.items():
        if isinstance(default, bool):
            assert documented[name] == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(documented[name]) == float(default), name
        elif isinstance(default, str):
            assert documented[name] == default, name
