"""The packages stay apart: tracer/cli.py is the only module of the agent that imports the dashboard."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def imported_packages(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_command_line_imports_the_dashboard():
    importers = {str(p.relative_to(ROOT)) for p in (ROOT / "tracer").rglob("*.py") if "dashboard" in imported_packages(p)}
    assert importers == {"tracer/cli.py"}


def test_the_agent_loads_without_the_dashboard():
    code = "import sys, tracer.agent, tracer.web; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dashboard', 'flask')))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    assert shown.stdout.strip() == "[]"
