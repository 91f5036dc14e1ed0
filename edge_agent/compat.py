"""What Python 3.11 added that the agent uses, for Python 3.10 (Ubuntu 22.04, JetPack 6).

One place, so the rest of the code imports these names from here and reads as 3.11 code."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from asyncio import timeout, timeout_at
    from enum import StrEnum

    import tomllib
else:  # pragma: no cover - exercised by the Python 3.10 run of the unit tests
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator
    from enum import Enum

    import async_timeout
    import tomli as tomllib

    # 3.11's asyncio.timeout raises the builtin TimeoutError, which 3.10's asyncio.TimeoutError is not.
    @contextlib.asynccontextmanager
    async def timeout(delay: float | None) -> AsyncIterator[None]:
        try:
            async with async_timeout.timeout(delay):
                yield
        except asyncio.TimeoutError as exc:
            raise TimeoutError from exc

    @contextlib.asynccontextmanager
    async def timeout_at(when: float | None) -> AsyncIterator[None]:
        try:
            async with async_timeout.timeout_at(when):
                yield
        except asyncio.TimeoutError as exc:
            raise TimeoutError from exc

    class StrEnum(str, Enum):
        """An Enum whose members are strings and format as their value, as 3.11's ``enum.StrEnum``."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
            return name.lower()

__all__ = ["StrEnum", "timeout", "timeout_at", "tomllib"]
