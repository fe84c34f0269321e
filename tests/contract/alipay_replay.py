"""Replays recorded Alipay gateway answers to the real AlipayProvider, over httpx.MockTransport.

A recording (`tests/fixtures/alipay/<scenario>.json`) lists the calls a scenario makes, in
order: the request Alipay expects (method, biz_content, whether notify_url is sent) and the
response node as Alipay documents it. At replay the node is serialised and signed with a test
key pair that plays "Alipay's" key, so the adapter's response verification really runs.
Every request is also checked the way Alipay's gateway would: common parameters, timestamp,
and the RSA2 signature against the application's public key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from oao.core.clock import FixedClock
from oao.payments.alipay import AlipayProvider
from oao.payments.alipay_sign import rsa2_sign, rsa2_verify, sign_content
from oao.payments.providers import ChargeStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alipay"
APP_ID = "2021000117650001"
SELLER_ID = "2088102177846880"
GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
NOTIFY_URL = "https://oao.example/api/v1/payments/notify/alipay"
T0 = datetime(2026, 11, 17, 2, 0, tzinfo=ZoneInfo("UTC"))
COMMON = {"app_id", "method", "format", "charset", "sign_type", "sign", "timestamp", "version", "biz_content",
          "notify_url"}
AUTH_CODES = {"succeeded": "287951669791880341", "processing": "283314526758117935", "failed": "280000000000000000"}
STATUS_TEXT = {"succeeded": "TRADE_SUCCESS", "processing": "WAIT_BUYER_PAY", "closed": "TRADE_CLOSED"}


@cache
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """(application key, "Alipay's" key, a forger's key), generated once per test run."""
    return tuple(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3))  # type: ignore


def signed_answer(method: str, node: Mapping[str, Any], key: rsa.RSAPrivateKey | None) -> str:
    """The gateway's answer text: the node and, unless `key` is None, the signature over its exact text."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    name = method.replace(".", "_") + "_response"
    if key is None:
        return f'{{"{name}":{node_text}}}'
    return f'{{"{name}":{node_text},"sign":"{rsa2_sign(key, node_text)}"}}'


class AlipayReplay:
    """A ProviderHarness (see provider_contract.py) for the Alipay adapter on recorded answers."""

    currency = "CNY"

    def __init__(self) -> None:
        self.app_key, self.alipay_key, self.forger_key = keys()
        self.clock = FixedClock(T0)
        self.sent: list[dict[str, str]] = []  # every form the adapter posted
        self.interactions: list[dict[str, Any]] = []
        self.played = 0
        self.scenario = ""
        self.client = httpx.Client(transport=httpx.MockTransport(self._gateway))
        self.provider = AlipayProvider(app_id=APP_ID, private_key=self.app_key,
                                       alipay_public_key=self.alipay_key.public_key(), gateway=GATEWAY,
                                       notify_url=NOTIFY_URL, client=self.client, clock=self.clock)

    # -- the recorded gateway -------------------------------------------------------------

    def load(self, interactions: list[dict[str, Any]]) -> None:
        self.interactions, self.played, self.sent = interactions, 0, []

    def _gateway(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == GATEWAY and request.method == "POST"
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
        pairs = parse_qsl(request.content.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        form = dict(pairs)
        assert len(form) == len(pairs), "a parameter is repeated"
        self.sent.append(form)
        assert set(form) <= COMMON, f"unexpected parameters {set(form) - COMMON}"
        assert (form["app_id"], form["format"], form["charset"], form["sign_type"], form["version"]) == (
            APP_ID, "JSON", "utf-8", "RSA2", "1.0")
        assert form["timestamp"] == self.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).strftime(
            "%Y-%m-%d %H:%M:%S")
        assert rsa2_verify(self.app_key.public_key(), sign_content(form), form["sign"]), "request sign is wrong"
        assert self.played < len(self.interactions), (
            f"{self.scenario}: unrecorded call {form['method']} {form['biz_content']}")
        recorded = self.interactions[self.played]
        self.played += 1
        expected = recorded["request"]
        assert form["method"] == expected["method"]
        assert json.loads(form["biz_content"]) == expected["biz_content"]
        assert form.get("notify_url") == (NOTIFY_URL if expected.get("notify_url") else None)
        if "http_status" in recorded:
            return httpx.Response(recorded["http_status"], text="busy")
        key = {"alipay": self.alipay_key, "forger": self.forger_key, None: None}[recorded.get("signed_by", "alipay")]
        return httpx.Response(200, text=signed_answer(form["method"], recorded["response"], key),
                              headers={"content-type": "text/html;charset=utf-8"})

    # -- ProviderHarness ----------------------------------------------------------------------

    def begin(self, scenario: str) -> None:
        self.scenario = scenario
        self.load(json.loads((FIXTURES / f"{scenario}.json").read_text("utf-8"))["interactions"])

    def finish(self) -> None:
        assert self.played == len(self.interactions), (
            f"{self.scenario}: {len(self.interactions) - self.played} recorded calls were never made")

    def now(self) -> datetime:
        return self.clock.now()

    def auth_code(self, outcome: str) -> str:
        return AUTH_CODES[outcome]

    def shopper_approves(self, out_trade_no: str) -> None:
        """Happens on the shopper's phone; the recording's next query already says TRADE_SUCCESS."""

    def notification(self, *, out_trade_no: str, amount_minor: int, status: ChargeStatus,
                     forged: bool = False, **override: str) -> tuple[bytes, dict[str, str]]:
        recorded = json.loads((FIXTURES / "notify_trade_status_sync.json").read_text("utf-8"))["form"]
        form = {k: v.format(out_trade_no=out_trade_no, total_amount=f"{amount_minor // 100}.{amount_minor % 100:02d}",
                            trade_status=STATUS_TEXT[status], app_id=APP_ID, seller_id=SELLER_ID)
                for k, v in recorded.items()} | override
        form.pop("sign", None)
        key = self.forger_key if forged else self.alipay_key
        form["sign"] = rsa2_sign(key, sign_content(form, exclude=("sign", "sign_type")))
        return urlencode(form).encode("ascii"), {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}

    def outbound(self) -> list[Mapping[str, str]]:
        return [json.loads(form["biz_content"]) for form in self.sent]

    def protocol_field(self, key: str, value: str) -> bool:
        return ((key, value) in {("product_code", "FACE_TO_FACE_PAYMENT"), ("scene", "bar_code")}
                or (key == "timeout_express" and value.endswith("m") and value[:-1].isdigit()))
