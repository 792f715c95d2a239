"""Schemathesis against the live service's OpenAPI schema: no 5xx, answers conform to the schema.

Hypothesis runs inside the test (``as_strategy`` per operation and mode): schemathesis' pytest
loader ``from_fixture`` fails on pytest 9 (``Function._nodeid``), and the live server is a fixture.
Every check runs (no 5xx, documented status codes, content types and headers, response bodies
valid against their models, schema-invalid requests refused, schema-valid ones accepted, auth
enforced). A schema cannot say "a decodable image" or "a path to an existing model", so
schema-valid uploads may also get 400/413 and schema-valid reload paths 422, as documented.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from harness.live_server import LiveServer
from service.config import Settings
from tests.reliability.live_service import (
    API_KEY,
    live_server_fixture,  # noqa: F401 - live_server
)

MAX_EXAMPLES = 60  # per operation and mode: 11 operations x 2 modes in about 30 s on 2 cores
# Schemathesis' default lists (less 5xx: those always fail, through not_a_server_error).
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429"]


def fuzz_config() -> SchemathesisConfig:
    """The admin key on every request; the statuses (in)valid requests may get, per route."""
    return SchemathesisConfig.from_dict(
        {
            "headers": {"X-API-Key": API_KEY},
            "operations": [
                {
                    "include-path-regex": "^/search",
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400, 413]},
                        # more images than max_images in a batch: 413, as the README says
                        "negative_data_rejection": {"expected-statuses": [*REJECTED, 413]},
                    },
                },
                {
                    "include-path": "/admin/reload",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 422]}},
                },
            ],
        }
    )


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    """Call one operation with generated cases; raises the failures found (shrunk)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate()

    run()


@pytest.mark.slow
def test_api_conforms_to_its_schema(live_server: LiveServer) -> None:
    url = f"{live_server.url}/openapi.json"
    schema = schemathesis.openapi.from_url(url, config=fuzz_config())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode)
            except Unsatisfiable:  # nothing to make invalid: an operation without parameters
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (AssertionError, BaseExceptionGroup) as err:  # every operation is reported
                failures.append(f"{operation.label} [{mode.value}]: {err}")
    assert not failures, "\n\n".join(failures)
    assert live_server.process.poll() is None


def test_schema_states_the_deployment_limits(live_server: LiveServer) -> None:
    """``k`` and the batch size carry the running server's bounds, so generated requests know them."""
    defaults = Settings.model_fields
    schema = httpx.get(f"{live_server.url}/openapi.json").json()
    k_bounds = {
        (path, parameter["schema"].get("minimum"), parameter["schema"].get("maximum"))
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "k"
    }
    max_k = defaults["max_k"].default
    assert k_bounds == {
        (p, 1, max_k) for p in ("/search", "/search/batch", "/items/{item_id}/similar")
    }
    body = schema["components"]["schemas"]["Body_search_batch_search_batch_post"]
    assert body["properties"]["images"]["maxItems"] == defaults["max_images"].default
