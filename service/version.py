"""The service's version, read from the installed package: pyproject.toml is its one source."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("call-control")
except PackageNotFoundError:  # running from a tree that was never installed
    __version__ = "0.0.0+unknown"
