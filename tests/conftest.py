"""Shared fixtures: a fresh outcomes database per test and a helper that writes small input files."""

from __future__ import annotations

import pytest

from dashboard import store


@pytest.fixture
def con(tmp_path):
    """A new, empty outcomes database (schema and built-in instruments in place) in the test's tmp_path."""
    connection = store.connect(tmp_path / "outcomes.duckdb")
    yield connection
    connection.close()


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, content) -> Path: text is written as UTF-8 exactly as given, bytes as they are."""

    def write(name: str, content: str | bytes):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """A demo database (600 synthetic clients) built once per test run through the normal import path."""
    from dashboard.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = build_demo(path)
    assert all(r.ok for r in result["reports"])
    return path
