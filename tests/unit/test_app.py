"""The service's resources close in reverse, and one failing close does not keep the rest open."""

from __future__ import annotations

from structlog.testing import capture_logs

from service.app import Resources


async def test_resources_close_in_reverse_and_a_failing_close_is_logged() -> None:
    closed: list[str] = []

    async def close(name: str) -> None:
        closed.append(name)

    async def broken() -> None:
        closed.append("store")
        raise OSError("disk gone")

    resources = Resources()
    resources.on_close("tracing", lambda: closed.append("tracing"))  # a plain function
    resources.on_close("http client", lambda: close("http client"))
    resources.on_close("store", broken)
    resources.on_close("engine", lambda: close("engine"))
    with capture_logs() as logs:
        await resources.aclose()
    assert closed == ["engine", "store", "http client", "tracing"]
    [failure] = [entry for entry in logs if entry["event"] == "close_failed"]
    assert failure["resource"] == "store"
    assert failure["log_level"] == "error"
    await resources.aclose()
    assert len(closed) == 4, "closed once"
