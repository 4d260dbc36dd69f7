"""docs/integrating.md shows the snippets under docs/examples/ verbatim: each block marked
`<!-- snippet: examples/<path> -->` is that file's exact text, and every snippet source file is
shown. (tests/integration/test_integrating_examples.py runs the files.)"""

from __future__ import annotations

import re
from pathlib import Path

from service.schema_export import REPO_ROOT

DOCS = REPO_ROOT / "docs"
GUIDE = DOCS / "integrating.md"
BLOCK = re.compile(r"<!-- snippet: (?P<path>\S+) -->\n```[a-z]*\n(?P<text>.*?)```\n", re.DOTALL)
SOURCES = ("*.py", "*.java", "*.go", "*.js")


def shown() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        assert match["path"] not in blocks, f"{match['path']} is shown twice"
        blocks[match["path"]] = match["text"]
    return blocks


def sources() -> set[str]:
    root = DOCS / "examples"
    return {
        path.relative_to(DOCS).as_posix()
        for pattern in SOURCES
        for path in root.rglob(pattern)
        if "node_modules" not in path.parts
    }


def test_every_block_is_its_file_verbatim() -> None:
    blocks = shown()
    assert blocks, "no snippet blocks found in docs/integrating.md"
    for path, text in blocks.items():
        file = DOCS / path
        assert file.is_file(), f"docs/integrating.md shows {path}, which does not exist"
        assert text == file.read_text(encoding="utf-8"), f"{path} differs from its block"


def test_every_snippet_file_is_shown() -> None:
    assert sources() == set(shown())
    languages = {Path(path).parts[1] for path in sources()}
    assert languages == {"python", "java", "go", "node"}
