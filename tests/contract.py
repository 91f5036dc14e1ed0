"""For the contract tests of private dependency APIs (``tests/test_contract_*.py``)."""

from __future__ import annotations

import importlib.metadata


def assert_written_for(distribution: str, written_for: tuple[int, int], adapter: str) -> None:
    """Fail, naming the adapter to review, when the installed release is not the minor one the
    adapter was written against."""
    version = importlib.metadata.version(distribution)
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    assert major_minor == written_for, (
        f"{distribution} {version} is installed; {adapter} was written for {written_for[0]}.{written_for[1]}.x: "
        "check the contract tests, then update WRITTEN_FOR there and the bound in pyproject.toml")
