"""Schemathesis over every /v1/ operation of a real server: no 5xx, every answer as documented.

Valid and invalid requests are generated from the OpenAPI schema itself,
derandomized and bounded in number, sent with a live key, and each answer is
checked: never a server error, its status code documented, its body matching
the documented schema. Some generated orders must be scored (200), or the
schema would keep the fuzzer away from the scoring path and the test prove nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from service.cli.server import running_server
from service.settings import ServiceSettings
from tests.service.clients import new_key

EXAMPLES = 40  # per operation and generation mode: a few minutes in all on two cores
CHECKS = [
    not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.response_schema_conformance,
]


def _fuzz(strategy: SearchStrategy[Any], call: Any) -> None:
    """Run `call` on `EXAMPLES` cases of `strategy`, the same cases at every run."""
    run = hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )(given(case=strategy)(call))
    run()


def _caller(headers: dict[str, str], answered: Counter[tuple[str, int]]) -> Any:
    """Return the test body: send one case with `headers`, check its answer, count it."""

    def call(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        answered[(case.operation.label, response.status_code)] += 1

    return call


def test_fuzzed_requests_get_no_server_error_and_documented_answers(
    settings: ServiceSettings,
) -> None:
    service = {"Authorization": f"Bearer {new_key(settings)}"}
    reviewer = {"Authorization": f"Bearer {new_key(settings, ['review'], 'reviewer')}"}
    answered: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    # The fuzzer sends bad keys on purpose: past the failed-key limit every call would be a 429.
    unlimited = settings.model_copy(update={"rate_limit_failed_keys_per_client": "100000/minute"})
    with running_server(unlimited) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        found = list(schema.include(path_regex="^/v1/").get_all_operations())
        operations = [result.ok() for result in found if isinstance(result, Ok)]
        assert len(operations) == len(found), "the OpenAPI schema has invalid operations"
        assert len(operations) >= 15, [o.label for o in operations]
        for operation in operations:
            headers = reviewer if operation.path.startswith("/v1/review") else service
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(operation.as_strategy(generation_mode=mode), _caller(headers, answered))
                # Every operation is fuzzed, and every failure shown (check failures come grouped).
                except (Exception, BaseExceptionGroup) as failure:
                    failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)
    scored = answered[("POST /v1/orders/score", 200)]
    assert scored > 0, f"no generated order was scored: {sorted(answered.items())}"
