"""The retry schedule of webhook deliveries, and which endpoint URLs are accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oao.webhooks import backoff, topics, urls


def test_delays_double_from_one_minute_and_stop_at_six_hours():
    assert [backoff.base_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff.base_delay(10) == timedelta(hours=6)
    assert backoff.base_delay(1000) == timedelta(hours=6)


def test_jitter_stays_within_twenty_percent():
    assert backoff.retry_delay(3, jitter=0.0) == timedelta(minutes=4) * 0.8
    assert backoff.retry_delay(3, jitter=0.999) < timedelta(minutes=4) * 1.2
    with pytest.raises(ValueError):
        backoff.retry_delay(3, jitter=1.0)


def test_gaps_grow_whatever_the_jitter_until_the_cap():
    for n in range(1, 9):
        assert backoff.retry_delay(n + 1, jitter=0.0) > backoff.retry_delay(n, jitter=0.999)


def test_retries_span_more_than_a_day_even_with_the_smallest_jitter():
    assert backoff.min_span() > timedelta(hours=24)
    assert backoff.max_span() < timedelta(days=3)
    assert not backoff.gives_up(backoff.MAX_ATTEMPTS - 1) and backoff.gives_up(backoff.MAX_ATTEMPTS)


@pytest.mark.parametrize("url", [
    "ftp://example.com/hook", "file:///etc/passwd", "gopher://x", "javascript:alert(1)", "https://",
    "http://localhost:8000/hook", "http://127.0.0.1/hook", "http://10.1.2.3/hook", "http://192.168.0.5/",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/", "http://printer.local/", "https://user:pw@example.com/hook",
])
def test_refused_urls(url: str):
    with pytest.raises(urls.UrlRefused):
        urls.check_shape(url, allow_private=False)


def test_public_urls_and_loopback_when_allowed():
    assert urls.check_shape("https://erp.example.com/oao", allow_private=False) == ("erp.example.com", 443)
    assert urls.check_shape("http://127.0.0.1:9000/x", allow_private=True) == ("127.0.0.1", 9000)
    with pytest.raises(urls.UrlRefused):  # even allowed, only http(s)
        urls.check_shape("ftp://127.0.0.1/", allow_private=True)


def test_a_name_resolving_to_a_private_address_is_refused_before_sending():
    def resolve_to(address: str) -> urls.Resolver:
        return lambda host, port: [address]

    urls.check_destination("https://erp.example.com/", allow_private=False, resolve=resolve_to("93.184.216.34"))
    with pytest.raises(urls.UrlRefused, match="not a public address"):
        urls.check_destination("https://evil.example.com/", allow_private=False, resolve=resolve_to("10.0.0.7"))


def test_event_type_patterns():
    assert topics.check_types(["order.completed", "order.completed", "stock.*"]) == ["order.completed", "stock.*"]
    assert topics.check_types(["order.placed", "*"]) == ["*"]
    for bad in ([], ["Order Completed"], ["order.*.x"], ["x" * 81]):
        with pytest.raises(ValueError):
            topics.check_types(bad)
    assert topics.matches(["order.*"], "order.completed") and not topics.matches(["order.*"], "orders.x")
    assert topics.matches(["*"], "stock.adjusted") and not topics.matches(["order.placed"], "order.completed")
