"""The import-time contract type: function-level imports are ignored, module-level ones count,
directly or through a chain."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator

import grimp
import pytest
from importlinter.configuration import configure

from testkit.import_rules import ImportTimeForbiddenContract, without_function_level_imports

MODULES = {
    "__init__": "",
    "eager": "import json\n",
    "lazy": """
        def load() -> object:
            import json

            return json
    """,
    "guarded": """
        try:
            import json
        except ImportError:
            json = None
    """,
    "chain": "from importrules_fixture import eager\n",
    "lazy_chain": """
        def load() -> object:
            from importrules_fixture import eager

            return eager
    """,
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grimp.ImportGraph]:
    tmp_path = tmp_path_factory.mktemp("import_rules")
    package = tmp_path / "importrules_fixture"
    package.mkdir()
    for name, source in MODULES.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        yield grimp.build_graph(
            "importrules_fixture", include_external_packages=True, cache_dir=None
        )
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("importrules_fixture")]:
            del sys.modules[name]


def check(graph: grimp.ImportGraph, source: str) -> bool:
    configure()  # what `lint-imports` does first: the contract times its chain search
    contract = ImportTimeForbiddenContract(
        name="no json at import time",
        session_options={
            "root_packages": ["importrules_fixture"],
            "include_external_packages": "True",
        },
        contract_options={
            "source_modules": [f"importrules_fixture.{source}"],
            "forbidden_modules": ["json"],
        },
    )
    return contract.check(graph, verbose=False).kept


def test_only_imports_inside_functions_are_dropped(graph: grimp.ImportGraph) -> None:
    eager = without_function_level_imports(graph)
    assert eager.direct_import_exists(importer="importrules_fixture.eager", imported="json")
    assert eager.direct_import_exists(importer="importrules_fixture.guarded", imported="json")
    assert not eager.direct_import_exists(importer="importrules_fixture.lazy", imported="json")
    # the shared graph is left whole for the other contracts
    assert graph.direct_import_exists(importer="importrules_fixture.lazy", imported="json")


@pytest.mark.parametrize(
    ("source", "kept"),
    [("eager", False), ("guarded", False), ("chain", False), ("lazy", True), ("lazy_chain", True)],
)
def test_the_contract_breaks_on_module_level_imports_only(
    graph: grimp.ImportGraph, source: str, kept: bool
) -> None:
    assert check(graph, source) is kept
