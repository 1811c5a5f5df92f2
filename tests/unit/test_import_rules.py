"""The layers' import rules (README "Layout"), checked on the source: every import statement, at
module level or inside a function, and importlib.import_module("...") with a literal name.

    domain        imports nothing of services, adapters or entrypoints, no Flask, no SQLAlchemy,
                  and reads no environment variables
    services      import nothing of entrypoints, no Flask, and read no environment variables
                  (settings come from gateway.config.Settings through the composition root)
    adapters      import nothing of services or entrypoints
    entrypoints/api  imports neither SQLAlchemy nor gateway.adapters (services hand it read models)
    web           the same: the pages render what services return, never database rows
    device_agents imports nothing of gateway
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FLASK = ("flask", "flask_smorest", "werkzeug")
SQLALCHEMY = ("sqlalchemy", "alembic")
ENVIRONMENT = "os.environ"  # stands for reading the environment: os.environ, os.getenv, settings.env


@dataclass(frozen=True)
class Rule:
    layer: str  # a package, dotted
    forbidden: tuple[str, ...]  # packages (dotted prefixes), or ENVIRONMENT
    why: str


RULES = (
    Rule("gateway.domain", ("gateway.services", "gateway.adapters", "gateway.entrypoints", *FLASK, *SQLALCHEMY,
                            ENVIRONMENT), "the domain is pure rules"),
    Rule("gateway.services", ("gateway.entrypoints", *FLASK, ENVIRONMENT),
         "use cases know no delivery mechanism and get their settings from the composition root"),
    Rule("gateway.adapters", ("gateway.services", "gateway.entrypoints"),
         "adapters are driven by use cases, they do not drive them"),
    Rule("gateway.entrypoints.api", ("gateway.adapters", *SQLALCHEMY),
         "the API serializes the read models services return"),
    Rule("gateway.web", ("gateway.adapters", *SQLALCHEMY), "the pages render the read models services return"),
    Rule("device_agents", ("gateway",), "the agent ships without the gateway"),
)

# (module, forbidden package): known violations being fixed on other branches of issue 9. The
# coordinator removes each entry when its branch is merged (the test below then insists); nothing
# may be added to it.
ALLOWED_FOR_NOW: set[tuple[str, str]] = set()  # known violations waiting for a fix; none now


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def uses(source: str, package: str) -> set[str]:
    """Every module the source imports (absolute, dotted; relative imports resolved from
    `package`), and ENVIRONMENT if it reads the environment; imports inside functions included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
            if base == "os" and {alias.name for alias in node.names} & {"environ", "getenv"}:
                found.add(ENVIRONMENT)
        elif isinstance(node, ast.Call) and _called_name(node.func) in ("import_module", "importlib.import_module"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
        elif isinstance(node, ast.Attribute):
            if (isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in ("environ", "getenv")) \
                    or (node.attr == "env" and _called_name(node.value).endswith("settings")):
                found.add(ENVIRONMENT)
    return found


def _resolve(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    base = package.split(".")
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _called_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_called_name(node.value)}.{node.attr}"
    return ""


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def sources(layer: str) -> list[Path]:
    folder = ROOT.joinpath(*layer.split("."))
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]


def violations(rule: Rule) -> dict[tuple[str, str], set[str]]:
    """(module, forbidden package it reaches into) -> what exactly it uses there."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sources(rule.layer):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for used in uses(path.read_text(), package):
            for forbidden in rule.forbidden:
                if _in(used, forbidden):
                    found.setdefault((module, forbidden), set()).add(used)
    return found


@pytest.mark.parametrize("rule", RULES, ids=[rule.layer for rule in RULES])
def test_layers_import_only_what_they_may(rule):
    broken = {key: used for key, used in violations(rule).items() if key not in ALLOWED_FOR_NOW}
    assert not broken, f"{rule.layer} must not use these ({rule.why}):\n" + "\n".join(
        f"  {module} uses {', '.join(sorted(used))}" for (module, _), used in sorted(broken.items()))


def test_the_allowed_for_now_list_holds_only_violations_that_still_exist():
    """So the list shrinks as the other branch lands, and cannot hide a new violation."""
    current = set().union(*(violations(rule) for rule in RULES))
    assert ALLOWED_FOR_NOW <= current, sorted(ALLOWED_FOR_NOW - current)


# ---- the checker itself catches what it must ----------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("import flask", "flask"),
    ("def handler():\n    from flask import request\n    return request", "flask"),
    ("def later():\n    import sqlalchemy.orm", "sqlalchemy.orm"),
    ("from ..entrypoints.api import errors", "gateway.entrypoints.api.errors"),
    ("from . import payments", "gateway.services.payments"),
    ("import importlib\nimportlib.import_module('gateway.entrypoints.cli')", "gateway.entrypoints.cli"),
    ("import os\nKEY = os.environ['PAYGATE_KEY']", ENVIRONMENT),
    ("import os\ndef key():\n    return os.getenv('PAYGATE_KEY')", ENVIRONMENT),
    ("from os import environ", ENVIRONMENT),
    ("def key(gw):\n    return gw.settings.env.get('PAYGATE_KEY')", ENVIRONMENT),
])
def test_the_checker_sees_imports_anywhere_in_a_module(source, expected):
    assert expected in uses(source, package="gateway.services")
