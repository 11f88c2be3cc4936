"""`--features PACK`: a bad pack is a one-line message and exit status 2, before any work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.catalog import current
from service.cli import app
from tests.packs import EXAMPLE_PACK, pack_in_use

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_pack_after() -> Iterator[None]:
    with pack_in_use(None):
        yield


def test_a_bad_pack_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text("aggregates: [{name: x, entity: shop, agg: count, text: t}]")
    missing = tmp_path / "nowhere.csv"
    args = ["evaluate", "--data", str(missing), "--mapping", str(missing), "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--features", str(pack)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: feature pack pack.yaml: aggregate 'x': unknown entity")
    assert "Traceback" not in result.output


def test_a_good_pack_is_the_one_in_use(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    args = ["evaluate", "--data", str(missing), "--mapping", str(missing), "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--features", str(EXAMPLE_PACK)])
    assert result.exit_code == 2  # the history is missing: the pack was read first
    assert current().pack is not None and "terminal_risk_7d" in current().by_name


def test_a_pack_that_is_not_utf8_text_is_a_message(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_bytes("columns: {caf\xe9: text}".encode("latin-1"))
    missing = tmp_path / "nowhere.csv"
    args = ["evaluate", "--data", str(missing), "--mapping", str(missing), "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--features", str(pack)])
    assert result.exit_code == 2
    assert result.stderr == "error: feature pack pack.yaml is not UTF-8 text\n"
