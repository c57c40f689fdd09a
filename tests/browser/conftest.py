"""The browser both map tests drive: one headless Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import Chromium, find_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium (set CHROMIUM=...)")
    b = Chromium(chromium)
    try:
        yield b
    finally:
        b.close()
