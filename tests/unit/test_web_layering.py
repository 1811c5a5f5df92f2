"""The pages call services, which return plain data: gateway/web imports neither SQLAlchemy nor
anything of gateway.adapters (the same rule as the REST entry points)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "gateway" / "web"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(WEB.rglob("*.py")), ids=lambda p: p.name)
def test_the_pages_import_no_database_code(path):
    bad = {name for name in imported_modules(path) if name.split(".")[0] == "sqlalchemy" or name.startswith("gateway.adapters")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_scanner_finds_both_import_forms(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy\nfrom gateway.adapters.db import models\n")
    assert imported_modules(sample) == {"sqlalchemy", "gateway.adapters.db"}
