"""The provider contract, run against the Alipay adapter on recorded gateway answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.alipay_replay import AlipayReplay
from tests.contract.provider_contract import ProviderContract


class TestAlipayContract(ProviderContract):
    @pytest.fixture
    def harness(self) -> Iterator[AlipayReplay]:
        replay = AlipayReplay()
        yield replay
        replay.client.close()
