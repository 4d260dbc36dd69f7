"""`callctl` loads FastStream only for `callctl run`: every other command starts without it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import callctl

MODULES = sorted(
    f"callctl.{info.name}"
    for info in pkgutil.iter_modules(callctl.__path__)
    if info.name != "__main__"
)


def test_the_package_has_the_modules_we_check() -> None:
    assert {
        "callctl.main",
        "callctl.send",
        "callctl.results",
        "callctl.call",
        "callctl.run",
    } <= set(MODULES)


def test_no_callctl_module_imports_faststream() -> None:
    imports = "; ".join(f"import {name}" for name in MODULES)
    check = (
        f"import sys; {imports}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'faststream'); "
        "assert not loaded, loaded; "
        "import service.kafka.options, service.kafka.topics; "
        "assert 'faststream' not in sys.modules, 'the topic admin needs no FastStream'"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_help_pages_load_without_faststream() -> None:
    check = (
        "import sys, contextlib, io; from callctl.main import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['send', '--help'])\n"
        "assert 'faststream' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)
