"""Processes racing on the review desk: one decision per case, one case per reviewer."""

from __future__ import annotations

from sqlalchemy import Engine

from service.persistence import labels_for_order
from service.persistence.stock import stock_of
from tests.processes import race
from tests.service.review.test_lifecycle import open_case
from tests.service.review.workers import claim_racing, decide_racing

PROCESSES = 6


def test_processes_clicking_at_once_make_one_decision(engine: Engine, db_url: str) -> None:
    case_id = open_case(engine, "ord-race")
    outcomes = [str(o) for o in race(decide_racing, PROCESSES, db_url, case_id)]
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    assert outcomes.count("done") == 1, outcomes
    found = stock_of(engine, "ord-race")
    assert found is not None and len(found[1]) == 2, "frozen, then one move"
    assert len(labels_for_order(engine, "ord-race")) == 1


def test_processes_asking_for_the_next_case_get_different_ones(engine: Engine, db_url: str) -> None:
    ids = {open_case(engine, f"ord-{i}") for i in range(PROCESSES)}
    outcomes = [str(o) for o in race(claim_racing, PROCESSES, db_url)]
    assert sorted(outcomes) == sorted(ids), outcomes
