"""An import-linter contract type for "not at import time": `forbidden`, counting only the
imports that run when a module is imported.

import-linter's graph has every `import` statement, including those inside functions, which run
only when the function is called. `callctl` may load FastStream for `callctl run` alone, so its
rule ignores such function-level imports and still follows indirect chains through module-level
ones (`callctl.cli -> service.kafka.topics -> faststream` breaks it).
"""

from __future__ import annotations

import ast
import copy
import importlib.util
from functools import cache
from pathlib import Path

from grimp import ImportGraph
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.domain.contract import ContractCheck


@cache
def _function_level_lines(module: str) -> frozenset[int]:
    """Line numbers of the import statements inside a function of `module`'s source."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return frozenset()
    tree = ast.parse(Path(spec.origin).read_text(), filename=spec.origin)
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lines.update(
                inner.lineno
                for inner in ast.walk(node)
                if isinstance(inner, ast.Import | ast.ImportFrom)
            )
    return frozenset(lines)


def without_function_level_imports(graph: ImportGraph) -> ImportGraph:
    """A copy of `graph` without the imports that are all made inside functions."""
    eager = copy.deepcopy(graph)  # the graph is shared by every contract of the run
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            lazy = _function_level_lines(importer)
            if details and all(d["line_number"] in lazy for d in details):
                eager.remove_import(importer=importer, imported=imported)
    return eager


class ImportTimeForbiddenContract(ForbiddenContract):
    """`forbidden`, over the imports made at import time only (module level)."""

    type_name = "forbidden_at_import_time"

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        return super().check(without_function_level_imports(graph), verbose)
