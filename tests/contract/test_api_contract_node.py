"""The OpenAPI description against a REAL node: three nodes on 127.0.0.1, one sharing
two corpus files and another serving the API that schemathesis exercises.

Fewer examples than against the fake (each request may walk the DHT), but every
operation, valid and invalid: documented statuses and shapes, no 5xx.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from swarmseek.api.services_node import NodeServices, serve_api
from tests.contract.test_api_contract import SCHEMA
from tests.support.api_server import context_in_thread
from tests.support.node_net import CORPUS, catalogue_lines, node_network

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("contract-node")

    @contextlib.asynccontextmanager
    async def network() -> AsyncIterator[str]:
        async with node_network(root, 3) as net:
            for name in ("gnu-licenses-v1.tar", "gnu-licenses-v2.tar"):
                await NodeServices(net.nodes[0]).share(str(CORPUS / "archives" / name))
            api = NodeServices(net.nodes[1])
            lines = b"".join(orjson.dumps(line) + b"\n" for line in catalogue_lines(50, 1000))
            await api.import_lines(lines)
            async with serve_api(net.nodes[1], "127.0.0.1", 0, None) as url:
                yield url

    with context_in_thread(network) as url:
        yield url


@SCHEMA.parametrize()
@settings(
    derandomize=True,  # the same examples every run: CI stays deterministic
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_real_node_matches_openapi(case: schemathesis.Case, node_url: str) -> None:
    with requests.Session() as session:
        case.call_and_validate(
            base_url=node_url,
            session=session,
            timeout=60,
            # As against the fake: some 400s are semantic (see test_api_contract.py).
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )
