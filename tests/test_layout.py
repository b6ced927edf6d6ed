"""The house's shape: core's rooms import one way, and pages reach core only through its public face."""
import ast
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
BASE = {"errors", "seeding", "runtime", "format", "archive"}
# The order data flows in: a room may import the base, its own modules and rooms of a lower rank.
RANK = {"base": 0, "training": 1, "agree": 1, "explainers": 2, "run": 3, "views": 4, "export": 5, "doors": 6}


def _room(module: str) -> str:
    """'core.run.compare' -> 'run'; 'core.errors' -> 'base'; 'core', 'core.cli' -> 'doors'."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"cli", "__main__", "__init__"}:
        return "doors"
    return "base" if parts[1] in BASE else parts[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every core module that `path` imports, at its top or inside a function, relative imports resolved:
    `from .. import format` names core.format, `from ..run.compare import compare` names core.run.compare."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            if (ROOT / source.replace(".", "/")).is_dir():  # a package: the names imported are its modules
                found.update(f"{source}.{a.name}" for a in node.names)
            else:
                found.add(source)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "core" or m.startswith("core.")}


def _core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_every_module_lives_in_a_room_or_the_base():
    for path in _core_modules():
        room = _room(_module_name(path))
        assert room in RANK, f"{path.relative_to(ROOT)} is in no room"


def test_rooms_import_only_the_base_themselves_and_rooms_before_them():
    wrong = []
    for path in _core_modules():
        room = _room(_module_name(path))
        for target in _imports(path):
            other = _room(target)
            if other == room:
                continue
            if RANK[other] >= RANK[room]:
                wrong.append(f"{_module_name(path)} imports {target}")
    assert not wrong, wrong


def test_training_and_agree_stand_side_by_side():
    for path in _core_modules():
        room = _room(_module_name(path))
        if room in {"training", "agree"}:
            other = {"training": "agree", "agree": "training"}[room]
            assert not any(_room(t) == other for t in _imports(path)), path


def test_the_checker_sees_a_backward_import():
    """The checker itself: a module of `agree` importing `run` is caught, a relative base import is not."""
    probe = CORE / "agree" / "_probe_layout.py"
    probe.write_text("from ..run.compare import compare\nfrom .. import format\n")
    try:
        assert _imports(probe) == {"core.run.compare", "core.format"}
        assert _room("core.run.compare") == "run" and _room("core.format") == "base"
    finally:
        probe.unlink()


def test_pages_reach_core_only_through_its_face_charts_and_format():
    allowed = {"core", "core.export.charts", "core.format"}
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core"):
                names = {f"{node.module}.{a.name}" for a in node.names}
                assert node.module in allowed or names <= allowed, f"{path.name}: from {node.module} import ..."
            elif isinstance(node, ast.Import):
                assert all(a.name in allowed for a in node.names if a.name.startswith("core")), path.name


def test_every_room_says_what_it_does():
    for room in RANK:
        if room not in {"base", "doors"}:
            doc = (CORE / room / "__init__.py").read_text()
            assert doc.startswith('"""') and len(doc.strip().splitlines()) == 1, room


def test_the_public_face_names_what_it_exports():
    assert all(hasattr(core, name) for name in core.__all__)


def test_setup_s_settings_load_without_torch_shap_or_scikit_learn():
    """The app's first page draws its controls from these while the heavy libraries load in the background."""
    import subprocess
    import sys

    code = ("import sys, core; core.PRESETS, core.ExplainConfig, core.RunConfig, core.MLPConfig, core.METHODS, "
            "core.SOURCES, core.FAMILIES, core.methods_for('mlp'), core.default_k(30), core.estimate_seconds, "
            "core.inert_note, core.BUILTIN_DATASETS, core.PRECISIONS; "
            "print(sorted(m for m in ('torch', 'shap', 'sklearn', 'lime', 'pandas', 'scipy', 'altair') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_first_page_loads_without_the_heavy_libraries():
    """The whole first visit (navigation, sidebar, Setup) runs without torch, shap, scikit-learn, scipy or pandas:
    those load in the background once it is drawn (stopped here, so nothing else imports them)."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, '.'); from pages import _state; _state.warm_up = lambda: None; "
            "from streamlit.testing.v1 import AppTest; at = AppTest.from_file('app.py', default_timeout=60); at.run(); "
            "assert not at.exception, at.exception; assert at.button(key='run_preset'); "
            "print(sorted(m for m in ('torch', 'shap', 'sklearn', 'lime', 'pandas', 'scipy', 'altair') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_family_has_its_words_costs_and_hyperparameters():
    """A family added to FAMILIES needs its noun in the story, its costs in the estimate and its
    hyperparameters in the report; every view reads them."""
    from core.export.report import _HYPERPARAMETERS
    from core.run.estimate import _SKLEARN_FIT, _SKLEARN_POINT
    from core.views.story import FAMILY_NOUNS

    assert set(FAMILY_NOUNS) == set(_HYPERPARAMETERS) == set(core.FAMILIES)
    assert set(_SKLEARN_FIT) == set(_SKLEARN_POINT) == set(core.FAMILIES) - {"mlp"}
