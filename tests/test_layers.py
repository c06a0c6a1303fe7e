"""The package's layers import downward only, and only along the edges the code uses: the import-linter contracts
in pyproject.toml must all be kept, and every layer edge they still allow must be taken by some module."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def allowed_layer_edges() -> tuple[list[str], set[tuple[str, str]]]:
    """(the layer packages, the (importer, imported) pairs the contracts allow): every downward pair of the layers
    contract (siblings joined by ":" may also import each other, "|" may not), less the pairs a forbidden
    contract names."""
    # the package's layers (the other layers contract orders the modules inside config/)
    (layers,) = [c for c in CONTRACTS if c["type"] == "layers" and not c["layers"][0].startswith("cxpredict.config.")]
    levels = [[name.strip() for name in level.replace(":", "|").split("|")] for level in layers["layers"]]
    allowed = {(upper, lower) for i, level in enumerate(levels) for upper in level
               for below in levels[i + 1:] for lower in below}
    allowed |= {(a, b) for level, raw in zip(levels, layers["layers"]) if ":" in raw for a in level for b in level
                if a != b}
    for contract in CONTRACTS:
        if contract["type"] == "forbidden":
            allowed -= {(s, f) for s in contract["source_modules"] for f in contract["forbidden_modules"]}
    return [name for level in levels for name in level], allowed


def used_layer_edges(packages: list[str]) -> set[tuple[str, str]]:
    """(importer, imported) layer pairs of the direct imports in the code, computed by grimp."""
    graph = grimp.build_graph("cxpredict", cache_dir=None)

    def layer(module: str) -> str | None:
        return next((p for p in packages if module == p or module.startswith(p + ".")), None)

    used = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = layer(module), layer(imported)
            if a and b and a != b:
                used.add((a, b))
    return used


def test_every_allowed_layer_edge_is_used_and_no_other():
    packages, allowed = allowed_layer_edges()
    used = used_layer_edges(packages)
    assert not used - allowed, f"imports the contracts do not allow (upward or forbidden): {sorted(used - allowed)}"
    assert not allowed - used, (f"layer edges allowed but used by no module: {sorted(allowed - used)}; forbid them "
                                "in pyproject.toml [tool.importlinter] so a new one is a decision, not an accident")
