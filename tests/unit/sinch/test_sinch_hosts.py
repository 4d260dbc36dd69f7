"""Region → host."""

from __future__ import annotations

import pytest

from service.sinch import DEFAULT_REGIONAL_TEMPLATE, GLOBAL_BASE_URL, REGIONS, base_url_for


def test_no_region_is_the_base_url() -> None:
    url = base_url_for(None, base_url=GLOBAL_BASE_URL, regional_url_template=None)
    assert url == "https://calling.api.sinch.com"


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_has_its_sinch_host(region: str) -> None:
    url = base_url_for(
        region, base_url=GLOBAL_BASE_URL, regional_url_template=DEFAULT_REGIONAL_TEMPLATE
    )
    assert url == f"https://calling-{region}.api.sinch.com"


def test_use1() -> None:
    url = base_url_for(
        "use1", base_url=GLOBAL_BASE_URL, regional_url_template=DEFAULT_REGIONAL_TEMPLATE
    )
    assert url == "https://calling-use1.api.sinch.com"


@pytest.mark.parametrize("region", [None, *REGIONS])
def test_without_a_template_every_region_uses_the_base_url(region: str | None) -> None:
    url = base_url_for(region, base_url="http://simulator:8080/", regional_url_template=None)
    assert url == "http://simulator:8080"


@pytest.mark.parametrize("region", ["eu", "USE1", "", "global", "use1 "])
def test_unknown_region_is_refused_even_without_a_template(region: str) -> None:
    with pytest.raises(ValueError, match="unknown Sinch region"):
        base_url_for(region, base_url="http://simulator:8080", regional_url_template=None)


def test_template_with_another_field_is_refused() -> None:
    with pytest.raises(ValueError, match="only use the"):
        base_url_for("euc1", base_url=GLOBAL_BASE_URL, regional_url_template="https://{host}")


@pytest.mark.parametrize(
    "base_url",
    ["calling.api.sinch.com", "ftp://h", "https://h/prefix", "https://h?x=1", "https://h:99999"],
)
def test_unusable_base_urls_are_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match=r"base URL"):
        base_url_for(None, base_url=base_url, regional_url_template=None)


def test_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="user info") as caught:
        base_url_for(None, base_url="https://u:hunter2@h", regional_url_template=None)
    assert "hunter2" not in str(caught.value)
