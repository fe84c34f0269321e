"""A bounded schemathesis run over the whole OpenAPI schema finds no 5xx: whatever
a client sends, OAO answers with a response or a problem+json, never a crash.

Runs against a database holding the demo network, as a network admin (who can
reach every operation), on SQLite and PostgreSQL. Hypothesis drives each
operation directly (schemathesis' lazy pytest loader does not support this
pytest version).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from oao.core.auth import Role
from oao.demo.load import load_demo
from oao.network import service as network_service
from tests.conftest import T0

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 20


def test_no_request_makes_the_api_fail_with_a_server_error(app, db):
    with db.unit_of_work() as s:
        load_demo(s, now=T0)
        token, _ = network_service.create_api_key(s, merchant_id=None, name="fuzz", now=T0,
                                                  role=Role.NETWORK_ADMIN)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the whole API is in the schema"
    failures: list[str] = []

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            exercise()
        except Exception as exc:  # collect every failing operation, not only the first
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
