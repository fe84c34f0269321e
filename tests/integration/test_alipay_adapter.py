"""The Alipay adapter at the HTTP boundary: what it sends, what it believes, what it refuses.

The gateway is `httpx.MockTransport` replaying Alipay-shaped answers (tests/contract/alipay_replay.py),
signed with a test key standing in for Alipay's; the adapter's own code runs unmocked.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from oao.config import Settings
from oao.payments.alipay import AlipayProvider, AlipayRequestError, fen, yuan
from oao.payments.alipay_sign import (
    AlipayKeyError,
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    sign_content,
    signed_response_node,
)
from oao.payments.providers import InvalidNotification, ProviderError, ProviderOrder
from tests.contract.alipay_replay import APP_ID, FIXTURES, GATEWAY, NOTIFY_URL, SELLER_ID, AlipayReplay, keys


@pytest.fixture
def replay():
    r = AlipayReplay()
    yield r
    r.client.close()


def an_order(replay: AlipayReplay, no: str = "oao_t_1", minutes: float = 15, **kw) -> ProviderOrder:
    values = dict(out_trade_no=no, amount_minor=1234, currency="CNY", merchant_id="mer_secret_internal",
                  store_id="loc_7", expires_at=replay.now() + timedelta(minutes=minutes)) | kw
    return ProviderOrder(**values)


def precreate_call(no: str, timeout: str = "15m", response: dict | None = None, **extra) -> dict:
    return {"request": {"method": "alipay.trade.precreate", "notify_url": True,
                        "biz_content": {"out_trade_no": no, "total_amount": "12.34", "subject": f"Order {no}",
                                        "product_code": "FACE_TO_FACE_PAYMENT", "store_id": "loc_7",
                                        "timeout_express": timeout}},
            "response": response or {"code": "10000", "msg": "Success", "out_trade_no": no,
                                     "qr_code": "https://qr.alipay.com/bax00000000000000000000"}} | extra


def test_a_precreate_request_is_signed_with_the_app_key_and_carries_only_order_fields(replay):
    replay.load([precreate_call("oao_t_1")])
    result = replay.provider.precreate(an_order(replay))
    assert result.qr_content == "https://qr.alipay.com/bax00000000000000000000"
    assert result.expires_at == replay.now() + timedelta(minutes=15)
    [form] = replay.sent
    assert set(form) == {"app_id", "method", "format", "charset", "sign_type", "timestamp", "version",
                         "notify_url", "biz_content", "sign"}
    assert form["timestamp"] == "2026-11-17 10:00:00"  # Beijing time of T0
    assert form["notify_url"] == NOTIFY_URL
    assert rsa2_verify(keys()[0].public_key(), sign_content(form), form["sign"])
    biz = json.loads(form["biz_content"])
    assert biz["subject"] == "Order oao_t_1"
    # The merchant is known to Alipay by the app; OAO's internal merchant id stays home.
    assert "mer_secret_internal" not in json.dumps(form)


def test_every_recorded_request_uses_only_whitelisted_business_fields():
    allowed = {
        "alipay.trade.precreate": {"out_trade_no", "total_amount", "subject", "product_code", "store_id",
                                   "timeout_express"},
        "alipay.trade.pay": {"out_trade_no", "total_amount", "subject", "product_code", "store_id",
                             "timeout_express", "scene", "auth_code"},
        "alipay.trade.query": {"out_trade_no"},
        "alipay.trade.cancel": {"out_trade_no"},
        "alipay.trade.refund": {"out_trade_no", "refund_amount", "out_request_no"},
    }
    seen = set()
    for path in FIXTURES.glob("*.json"):
        for call in json.loads(path.read_text("utf-8")).get("interactions", []):
            method, biz = call["request"]["method"], call["request"]["biz_content"]
            seen.add(method)
            assert set(biz) <= allowed[method], (path.name, set(biz) - allowed[method])
            if "subject" in biz:
                assert biz["subject"] == f"Order {biz['out_trade_no']}"
    assert seen == set(allowed)


def test_the_provider_order_has_no_field_that_could_carry_line_items():
    assert set(ProviderOrder.__slots__) == {"out_trade_no", "amount_minor", "currency", "merchant_id", "store_id",
                                            "expires_at"}


def test_a_precreate_timeout_is_rounded_down_and_capped_at_two_hours(replay):
    replay.load([precreate_call("oao_t_2", "14m"), precreate_call("oao_t_3", "120m")])
    assert replay.provider.precreate(an_order(replay, "oao_t_2", minutes=14.9)).expires_at == (
        replay.now() + timedelta(minutes=14))
    assert replay.provider.precreate(an_order(replay, "oao_t_3", minutes=300)).expires_at == (
        replay.now() + timedelta(minutes=120))


def test_orders_alipay_cannot_take_are_refused_before_any_call(replay):
    replay.load([])
    with pytest.raises(AlipayRequestError, match="CNY only"):
        replay.provider.precreate(an_order(replay, currency="HKD"))
    with pytest.raises(AlipayRequestError, match="less than a minute"):
        replay.provider.precreate(an_order(replay, minutes=0.5))
    assert replay.provider.pay_with_code(an_order(replay, currency="USD"), auth_code="287951669791880341").status \
        == "failed"
    assert replay.provider.pay_with_code(an_order(replay), auth_code="not-a-code").status == "failed"
    assert replay.provider.refund(out_trade_no="x", out_request_no="r", amount_minor=1, currency="EUR").status \
        == "failed"
    assert replay.sent == []


@pytest.mark.parametrize("signed_by", ["forger", None])
def test_an_answer_without_alipays_signature_is_not_believed(replay, signed_by):
    replay.load([precreate_call("oao_t_1", signed_by=signed_by)])
    with pytest.raises(ProviderError, match="signature"):
        replay.provider.precreate(an_order(replay))


def test_an_unsigned_gateway_error_is_reported_with_alipays_reason(replay):
    replay.load([precreate_call("oao_t_1", signed_by=None, response={
        "code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id", "sub_msg": "无效的AppID参数"})])
    with pytest.raises(ProviderError, match="isv.invalid-app-id"):
        replay.provider.precreate(an_order(replay))


def test_an_answer_about_another_order_is_not_believed(replay):
    replay.load([precreate_call("oao_t_1", response={"code": "10000", "msg": "Success", "out_trade_no": "other",
                                                     "qr_code": "https://qr.alipay.com/x"})])
    with pytest.raises(ProviderError, match="not 'oao_t_1'"):
        replay.provider.precreate(an_order(replay))


def test_http_errors_and_unreachable_gateways_are_provider_errors(replay):
    replay.load([precreate_call("oao_t_1", http_status=502)])
    with pytest.raises(ProviderError, match="HTTP 502"):
        replay.provider.precreate(an_order(replay))

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    app_key, alipay_key, _ = keys()
    provider = AlipayProvider(app_id=APP_ID, private_key=app_key, alipay_public_key=alipay_key.public_key(),
                              gateway=GATEWAY, client=httpx.Client(transport=httpx.MockTransport(refuse)),
                              clock=replay.clock)
    with pytest.raises(ProviderError, match="could not be reached"):
        provider.query(out_trade_no="oao_t_1")
    garbage = AlipayProvider(app_id=APP_ID, private_key=app_key, alipay_public_key=alipay_key.public_key(),
                             client=httpx.Client(transport=httpx.MockTransport(
                                 lambda r: httpx.Response(200, text="<html>maintenance</html>"))), clock=replay.clock)
    with pytest.raises(ProviderError, match="not an OpenAPI response"):
        garbage.query(out_trade_no="oao_t_1")


def pay_call(no: str, response: dict) -> dict:
    return {"request": {"method": "alipay.trade.pay", "notify_url": True,
                        "biz_content": {"out_trade_no": no, "total_amount": "12.34", "subject": f"Order {no}",
                                        "product_code": "FACE_TO_FACE_PAYMENT", "store_id": "loc_7",
                                        "scene": "bar_code", "auth_code": "287951669791880341",
                                        "timeout_express": "15m"}},
            "response": response}


@pytest.mark.parametrize("response, status", [
    ({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}, "processing"),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"}, "processing"),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_SUCCESS"}, "processing"),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_CLOSE"}, "closed"),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.BUYER_BALANCE_NOT_ENOUGH"}, "failed"),
])
def test_payment_code_answers_map_to_charge_states(replay, response, status):
    replay.load([pay_call("oao_t_1", response)])
    charge = replay.provider.pay_with_code(an_order(replay), auth_code="287951669791880341")
    assert charge.status == status
    assert response["sub_code"] in charge.message


def test_a_gateway_refusal_of_the_call_itself_is_a_provider_error(replay):
    replay.load([pay_call("oao_t_1", {"code": "40006", "msg": "Insufficient Permissions",
                                      "sub_code": "isv.insufficient-isv-permissions"})])
    with pytest.raises(ProviderError, match="40006"):
        replay.provider.pay_with_code(an_order(replay), auth_code="287951669791880341")


def test_a_cancel_alipay_wants_retried_is_a_provider_error(replay):
    replay.load([{"request": {"method": "alipay.trade.cancel", "biz_content": {"out_trade_no": "oao_t_1"}},
                  "response": {"code": "10000", "msg": "Success", "out_trade_no": "oao_t_1", "retry_flag": "Y"}}])
    with pytest.raises(ProviderError, match="retry"):
        replay.provider.cancel(out_trade_no="oao_t_1")


def test_a_refund_whose_outcome_is_unknown_is_processing(replay):
    replay.load([{"request": {"method": "alipay.trade.refund",
                              "biz_content": {"out_trade_no": "oao_t_1", "refund_amount": "0.01",
                                              "out_request_no": "rfd_1"}},
                  "response": {"code": "20000", "msg": "Service Currently Unavailable"}}])
    result = replay.provider.refund(out_trade_no="oao_t_1", out_request_no="rfd_1", amount_minor=1, currency="CNY")
    assert (result.status, result.refunded_minor) == ("processing", 0)


def test_yuan_and_fen_convert_exactly():
    assert [yuan(n) for n in (1, 10, 100, 1234, 10**10)] == ["0.01", "0.10", "1.00", "12.34", "100000000.00"]
    assert [fen(s) for s in ("0.01", "12.34", "100", "88.8")] == [1, 1234, 10000, 8880]
    for bad in ("12.345", "abc", "-1.00", "NaN"):
        with pytest.raises(ProviderError):
            fen(bad)
    for bad in (0, -5, True):
        with pytest.raises(AlipayRequestError):
            yuan(bad)


def test_the_response_text_is_cut_exactly_as_sent():
    text = '{ "alipay_trade_query_response" : {"code":"10000","x":"\\"alipay_trade_query_response\\":{}"} ,"sign":"s"}'
    node_text, sign, node = signed_response_node(text, "alipay.trade.query")
    assert node_text == '{"code":"10000","x":"\\"alipay_trade_query_response\\":{}"}'
    assert (sign, node["code"]) == ("s", "10000")
    assert signed_response_node('{"error_response":{"code":"40002"}}', "alipay.trade.pay")[2] == {"code": "40002"}


def notification(replay: AlipayReplay, **override: str) -> bytes:
    body, _ = replay.notification(out_trade_no="oao_t_1", amount_minor=1234, status="succeeded", **override)
    return body


def test_a_notification_is_reduced_to_what_oao_checks(replay):
    note = replay.provider.verify_notification(raw_body=notification(replay), headers={})
    assert (note.event_id, note.out_trade_no, note.provider_trade_no) == (
        "2026111700222100002077351234567890", "oao_t_1", "2026111722001416880501234599")
    assert (note.app_id, note.merchant_ref, note.amount_minor, note.currency, note.status) == (
        APP_ID, SELLER_ID, 1234, "CNY", "succeeded")
    assert note.occurred_at == datetime(2026, 11, 17, 2, 0, 3, tzinfo=UTC)


def test_a_closed_trade_notification_says_closed(replay):
    body, _ = replay.notification(out_trade_no="oao_t_1", amount_minor=1234, status="closed")
    assert replay.provider.verify_notification(raw_body=body, headers={}).status == "closed"


@pytest.mark.parametrize("override, message", [
    ({"app_id": "2021000000000000"}, "for app"),
    ({"trade_status": "TRADE_PENDING"}, "Unknown trade_status"),
    ({"total_amount": "12.345"}, "malformed"),
    ({"notify_time": "yesterday"}, "malformed"),
])
def test_a_correctly_signed_notification_for_something_else_is_refused(replay, override, message):
    with pytest.raises(InvalidNotification, match=message):
        replay.provider.verify_notification(raw_body=notification(replay, **override), headers={})


def test_malformed_notifications_are_refused(replay):
    body = notification(replay)
    form = dict(parse_qsl(body.decode()))
    for raw, message in [
        (b"\xff\xfe", "not a URL-encoded form"),
        (body + b"&trade_status=TRADE_CLOSED", "repeats a parameter"),
        (urlencode({k: v for k, v in form.items() if k != "sign"}).encode(), "lacks sign"),
        (urlencode(form | {"sign_type": "RSA"}).encode(), "not RSA2"),
        (urlencode(form | {"sign": base64.b64encode(b"x" * 256).decode()}).encode(), "does not verify"),
        (urlencode(form | {"sign": "%%%"}).encode(), "does not verify"),
    ]:
        with pytest.raises(InvalidNotification, match=message):
            replay.provider.verify_notification(raw_body=raw, headers={})


def test_a_configured_seller_must_match(replay):
    app_key, alipay_key, _ = keys()
    provider = AlipayProvider(app_id=APP_ID, private_key=app_key, alipay_public_key=alipay_key.public_key(),
                              seller_id="2088000000000001", client=replay.client, clock=replay.clock)
    with pytest.raises(InvalidNotification, match="another seller"):
        provider.verify_notification(raw_body=notification(replay), headers={})


def _write_keys(tmp_path: Path, private_format: str) -> tuple[Path, Path]:
    app_key, alipay_key, _ = keys()
    if private_format == "bare-base64":  # what Alipay's key tool hands out
        der = app_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        private = base64.b64encode(der)
        public = base64.b64encode(alipay_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    else:
        fmt = {"pkcs8": serialization.PrivateFormat.PKCS8,
               "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL}[private_format]
        private = app_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        public = alipay_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "app.key").write_bytes(private)
    (tmp_path / "alipay.pub").write_bytes(public)
    return tmp_path / "app.key", tmp_path / "alipay.pub"


@pytest.mark.parametrize("private_format", ["pkcs8", "pkcs1", "bare-base64"])
def test_going_live_is_configuration_only(tmp_path, replay, private_format):
    private_file, public_file = _write_keys(tmp_path, private_format)
    settings = Settings(payment_provider="alipay", alipay_app_id=APP_ID, alipay_gateway=GATEWAY,
                        alipay_private_key_file=str(private_file), alipay_public_key_file=str(public_file),
                        public_url="https://oao.example/")
    settings.validate()
    provider = AlipayProvider.from_settings(settings, client=replay.client, clock=replay.clock)
    assert (provider.app_id, provider.gateway, provider.notify_url) == (APP_ID, GATEWAY, NOTIFY_URL)
    replay.load([precreate_call("oao_t_1")])
    assert provider.precreate(an_order(replay)).qr_content.startswith("https://qr.alipay.com/")


def test_unreadable_or_wrong_keys_are_clear_errors(tmp_path):
    (tmp_path / "junk").write_bytes(b"not a key!")
    with pytest.raises(AlipayKeyError, match="neither PEM nor base64"):
        load_private_key((tmp_path / "junk").read_bytes())
    with pytest.raises(AlipayKeyError, match="Cannot read Alipay's public key"):
        load_public_key(base64.b64encode(b"0123456789"))
    settings = Settings(alipay_app_id=APP_ID, alipay_private_key_file=str(tmp_path / "missing.pem"),
                        alipay_public_key_file=str(tmp_path / "missing.pub"))
    with pytest.raises(AlipayRequestError, match="Cannot read an Alipay key file"):
        AlipayProvider.from_settings(settings)


def test_sign_content_skips_empty_values_and_the_signature():
    assert sign_content({"b": "2", "a": "1", "sign": "x", "c": ""}) == "a=1&b=2"
    assert sign_content({"sign_type": "RSA2", "a": "1"}, exclude=("sign", "sign_type")) == "a=1"
    key = keys()[0]
    assert rsa2_verify(key.public_key(), "a=1&b=2", rsa2_sign(key, "a=1&b=2"))
    assert not rsa2_verify(key.public_key(), "a=1&b=3", rsa2_sign(key, "a=1&b=2"))
