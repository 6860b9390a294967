"""Fixtures of the search conformance suite (black-box HTTP) — https://hl7.org/fhir/R4/search.html

- ``database_url`` is overridden here with **package** scope (same ids ``sqlite``/``postgresql``
  and the same ``postgres`` mark as the project-wide fixture, so ``HYGIE_TEST_BACKENDS`` still
  selects backends): the whole suite shares one database per backend.
- ``conformance_server``: one ``hygie serve`` subprocess (:class:`tests.conftest.LiveServer`) per
  backend, with the server time zone pinned to ``Europe/Paris`` (the documented default), because
  dates without a time zone are read in the server's zone (R4 search.html#date).
- ``fhir``: module-scoped; loads the module's ``RESOURCES`` list in one transaction, every
  resource tagged with the module's scope, and returns a :class:`Fhir` whose searches are ANDed
  with that tag (see :mod:`tests.conformance.support`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.support import Fhir
from tests.conftest import BACKEND_PARAMS, LiveServer, fresh_database_url

SERVER_TIMEZONE = "Europe/Paris"


@pytest.fixture(scope="package", params=BACKEND_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database of each backend, shared by the conformance modules."""
    yield from fresh_database_url(request, request.param, tmp_path_factory.mktemp("conformance-db"))


@pytest.fixture(scope="package")
def conformance_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A running ``hygie serve`` on ``database_url`` for the whole suite."""
    server = LiveServer(
        database_url, tmp_path_factory.mktemp("conformance-server"), {"HYGIE_TIMEZONE": SERVER_TIMEZONE}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fhir(request: pytest.FixtureRequest, conformance_server: LiveServer) -> Iterator[Fhir]:
    """The module's dataset (its ``RESOURCES``) loaded once, and a client scoped to it."""
    scope = request.module.__name__.rsplit(".", 1)[-1]
    client = Fhir(conformance_server.fhir_url, scope)
    client.load(request.module.RESOURCES)
    try:
        yield client
    finally:
        client.close()
