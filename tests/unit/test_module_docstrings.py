"""Every module under gateway/ opens with a docstring that says what it is for, so a newcomer finds
a rule or an endpoint by reading the first lines of the files (or `grep -l` over them)."""
import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


def test_every_module_says_what_it_is_for():
    silent = []
    for path in sorted(GATEWAY.rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if len(docstring.split()) < 4:
            silent.append(str(path.relative_to(GATEWAY.parent)))
    assert silent == [], "modules without a docstring saying what they are for:\n" + "\n".join(silent)
