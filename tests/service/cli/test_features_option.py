"""`--features PACK`: a bad pack is a one-line message and exit status 2, before any work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.catalog import current, use_pack
from service.cli import app

runner = CliRunner()
EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "terminal_pack.yaml"


@pytest.fixture(autouse=True)
def no_pack_after() -> Iterator[None]:
    yield
    use_pack(None)


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
    result = runner.invoke(app, [*args, "--features", str(EXAMPLE)])
    assert result.exit_code == 2  # the history is missing: the pack was read first
    assert current().pack is not None and "terminal_risk_7d" in current().by_name
