"""Each provider's codec does no I/O: nothing it imports, at any depth within smsgate,
reaches aiohttp or the HTTP base. (Importing ``smsgate`` itself loads everything, so the
check reads the import statements rather than ``sys.modules``.)"""

import ast
import importlib.util
from pathlib import Path

import pytest

import smsgate

ROOT = Path(smsgate.__file__).parent
CODECS = [
    "smsgate.providers.codec",
    "smsgate.providers._wire",
    "smsgate.providers.smsworks.answers",
    "smsgate.providers.smsworks.codec",
    "smsgate.providers.smsworks.credentials",
    "smsgate.providers.smsworks.schema",
    "smsgate.providers.smsworks.webhooks",
    "smsgate.providers.smsscheduler.codec",
    "smsgate.providers.smsscheduler.schema",
]
IMPURE = ("aiohttp", "aiolimiter", "smsgate.providers.base", "asyncio")


def imports_of(module: str) -> set[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:  # "from package import module"
                if importlib.util.find_spec(node.module) and _is_module(
                    f"{node.module}.{alias.name}"
                ):
                    found.add(f"{node.module}.{alias.name}")
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def reachable(module: str) -> set[str]:
    """Every module ``module`` imports, following smsgate's own modules (not packages'
    ``__init__``, which re-export; the codec never runs them for what it needs)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in imports_of(name):
            if imported.startswith("smsgate.") and imported != "smsgate":
                spec = importlib.util.find_spec(imported)
                if spec is not None and spec.origin and not spec.origin.endswith("__init__.py"):
                    todo.append(imported)
                else:
                    seen.add(imported)
            else:
                seen.add(imported)
    return seen


@pytest.mark.parametrize("module", CODECS)
def test_a_codec_reaches_no_io(module):
    reached = reachable(module)
    assert not {name for name in reached if name.startswith(IMPURE)}, sorted(reached)
