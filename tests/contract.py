"""For the contract tests of private dependency APIs (``tests/test_contract_*.py``)."""

from __future__ import annotations

import importlib.metadata


def assert_written_for(distribution: str, oldest: tuple[int, int], newest: tuple[int, int], adapter: str) -> None:
    """Fail, naming the adapter to review, when the installed release is outside the minor releases
    the adapter was checked against (``oldest`` to ``newest``, both included)."""
    version = importlib.metadata.version(distribution)
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    assert oldest <= major_minor <= newest, (
        f"{distribution} {version} is installed; {adapter} was checked against {oldest[0]}.{oldest[1]}.x to "
        f"{newest[0]}.{newest[1]}.x: run its contract tests, then update the range there and the bound in "
        "pyproject.toml")
