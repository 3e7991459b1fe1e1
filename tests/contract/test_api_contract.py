"""The OpenAPI description against the implementation, with schemathesis.

Every operation of ``/api/v1/openapi.json`` gets generated requests, valid
(positive) and invalid (negative); each answer must have a documented status and
content type, match its response schema, never be a 5xx, and invalid data must be
rejected with a 4xx. Runs against the app with ``FakeServices`` (fast).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, reject, settings

from swarmseek.api.http import ApiConfig, make_app
from swarmseek.api.openapi import build_openapi
from tests.support.api_server import serve_in_thread
from tests.support.fake_services import FakeServices, sample_cards


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    # The import body is text (JSON lines). A negative case's non-string value has no
    # distinct form as bytes (its JSON text is a string too), so it is not a test case.
    if not isinstance(value, str):
        reject()
    return value.encode()


# A .torrent is bytes on the wire, like an upload.
schemathesis.serializer.alias("application/x-bittorrent", "application/octet-stream")

SCHEMA = schemathesis.openapi.from_dict(build_openapi("1")).exclude(
    # An endpoint that streams until the node stops; tested in tests/unit/test_http_api.py.
    path="/api/v1/events"
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("contract")

    def make() -> object:
        services = FakeServices(cards=sample_cards(), download_dir=Path(folder))
        return make_app(services, ApiConfig(rate=1e9, burst=1e9))

    with serve_in_thread(make) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@SCHEMA.parametrize()
@settings(
    derandomize=True,  # the same examples every run: CI stays deterministic
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_matches_openapi(
    case: schemathesis.Case, base_url: str, session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=base_url,
        session=session,
        timeout=10,
        # Some rules are semantic and cannot be said in JSON Schema (a search needs 'q'
        # or 'prefix', a cursor must come from a previous page, a shared path must
        # exist): a schema-valid request may still be a 400, so only that check is off.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
