"""One running simulator and webhook receiver a test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_sepsms.simulator import Simulator
from tests.simulator.helpers import SECRETS, Receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
def running_simulator(receiver: Receiver) -> Iterator[Simulator]:
    with Simulator(webhook_url=receiver.url, webhook_secrets=SECRETS) as simulator:
        yield simulator


@pytest.fixture
def sim(running_simulator: Simulator, receiver: Receiver) -> Simulator:
    running_simulator.reset()
    running_simulator.webhook_retry_delay = 0.01
    receiver.clear()
    return running_simulator
