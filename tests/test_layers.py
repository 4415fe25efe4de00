"""The structure docs/architecture.md promises, checked on the import graph (AST, no imports run): the floor
imports nothing of ours, the domains never import the composition root or the developer tooling, and the image
ships every runtime package."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"community", "core", "gateway", "ingest", "devices", "people", "register", "reports", "intake", "kpis",
        "workorders", "notices", "notifications", "alerts", "web", "dashboards", "simulator", "devtools"}
DOMAINS = OURS - {"community", "core", "devtools"}


def imports_of(package: str) -> dict[str, set[str]]:
    """module path -> top-level packages of ours it imports (anywhere in the file, lazy imports included)."""
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = found & OURS
    return out


def test_the_floor_imports_nothing_of_ours():
    for module, found in imports_of("core").items():
        assert found <= {"core"}, f"{module} imports {found - {'core'}}"


def test_domains_never_import_the_composition_root_or_developer_tooling():
    for package in DOMAINS:
        for module, found in imports_of(package).items():
            assert not found & {"community", "devtools"}, f"{module} imports {found & {'community', 'devtools'}}"


def test_device_kind_modules_need_only_the_floor_and_line_protocol():
    """A kind module is self-contained: adding one touches no other package."""
    for module, found in imports_of("devices/kinds").items():
        assert found <= {"devices", "ingest", "core"}, f"{module} imports {found}"


def test_the_image_ships_every_runtime_package_and_no_tooling():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packaged = {name.rstrip("*") for name in packaged["include"]}
    assert packaged == OURS
    assert OURS - {"devtools"} <= copied and "devtools" not in copied
