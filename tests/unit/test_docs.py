"""The documentation keeps up with the code: every setting is documented, every local link
resolves, the README stays short and starts with the two commands."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from gateway.config import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "certs" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Pages other branches write at the same time as this one; checked as soon as they exist.
WRITTEN_IN_PARALLEL = {"docs/fund.md", "docs/credit.md", "docs/web.md"}


def _all_docs() -> str:
    return "\n".join(path.read_text() for path in DOCS)


def test_every_setting_is_documented():
    documented = _all_docs()
    names = {f"PAYGATE_{spec.name.upper()}" for spec in fields(Settings) if spec.name != "env"}
    code = "\n".join(path.read_text() for path in (REPO / "gateway").rglob("*.py"))
    names |= {name for name in re.findall(r"\bPAYGATE_[A-Z_]*[A-Z]\b", code) if name not in ("PAYGATE_X", "PAYGATE_X_FILE")}
    missing = sorted(name for name in names if f"`{name}`" not in documented and name not in documented)
    assert not missing, missing


def test_every_local_link_resolves():
    broken = []
    for page in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.exists() and str(resolved.relative_to(REPO)) not in WRITTEN_IN_PARALLEL:
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_the_readme_is_short_and_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.strip().splitlines()] == [["make", "demo"], ["make", "test"]]
    assert len(readme) < 8_000
    for heading in ("## Try it by hand", "## Documentation", "## Layout"):
        assert heading in readme
    for page in DOCS:
        assert "later issue" not in page.read_text(), page


def test_a_decline_is_documented_as_200_failed():
    api = (REPO / "docs" / "api.md").read_text()
    assert "answers **200** with `\"status\": \"failed\"`" in api
    assert "402 bank\nrefusal" not in api and "402 bank refusal" not in api
