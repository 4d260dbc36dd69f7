"""One version source: pyproject.toml. Everything that states a version must agree with it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from service.version import __version__

ROOT = Path(__file__).resolve().parents[2]


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_the_service_reports_the_package_version() -> None:
    assert __version__ == project_version()


def test_chart_app_version_follows() -> None:
    chart = (ROOT / "helm/call-control/Chart.yaml").read_text()
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?\s*$', chart, re.M)
    assert match, "Chart.yaml has an appVersion"
    assert match.group(1) == project_version()


def test_asyncapi_version_follows() -> None:
    document = json.loads((ROOT / "schemas/asyncapi.json").read_text())
    assert document["info"]["version"] == project_version()


def test_dockerfile_default_version_follows() -> None:
    match = re.search(r"^ARG VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, "the Dockerfile declares ARG VERSION"
    assert match.group(1) == project_version()


def test_changelog_has_the_version_or_unreleased() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{project_version()}]" in changelog


def test_artifact_hub_image_follows() -> None:
    chart = yaml.safe_load((ROOT / "helm/call-control/Chart.yaml").read_text())
    images = yaml.safe_load(chart["annotations"]["artifacthub.io/images"])
    assert [image["image"] for image in images] == [f"call-control:{project_version()}"]
