"""RFC 9421 signatures with Ed25519 as federation requests use them: the RFC's own test
vector, and every way a request must be refused (unsigned, tampered, stale, unknown key)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oao.federation import signatures as sig

# RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.2.6.
RFC_SEED = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
RFC_PUBLIC = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
RFC_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"')
RFC_SIGNATURE = "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
RFC_HEADERS = {"Host": "example.com", "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
               "Content-Type": "application/json", "Content-Length": "18"}

NOW = 1_800_000_000
URL = "https://b.example/api/v1/federation/links/fln_1/parcels"
BODY = b'{"parcel_id":"fpc_1","parcel_count":1}'
KEY = sig.new_private_key()
PUBLIC = sig.public_key_of(KEY)


def test_the_rfc_test_vector_gives_the_same_signature_base_and_signature():
    seed = sig.b64url_decode(RFC_SEED)
    assert sig.public_key_of(seed) == RFC_PUBLIC
    spec = sig.parse_dictionary('sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
                                ';created=1618884473;keyid="test-key-ed25519"')["sig-b26"]
    components = [item.value for item in spec.value]
    base = sig.signature_base(components, spec.params, method="POST",
                              url="http://example.com/foo?param=Value&Pet=dog", headers=RFC_HEADERS)
    assert base == RFC_BASE
    assert base64.b64encode(sig.sign_bytes(seed, base.encode())).decode() == RFC_SIGNATURE
    assert sig.verify_bytes(RFC_PUBLIC, base64.b64decode(RFC_SIGNATURE), base.encode())


def test_the_content_digest_matches_rfc_9530():
    assert sig.content_digest(b'{"hello": "world"}') == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert sig.digest_matches("sha-512=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
                              b'{"hello": "world"}')
    assert not sig.digest_matches("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", b'{"hello": "w0rld"}')


def _signed(*, created: int = NOW, nonce: str = "n-1", body: bytes = BODY, url: str = URL,
            method: str = "POST") -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers.update(sig.sign_request(method=method, url=url, headers=headers, body=body, private_key=KEY,
                                    key_id="fky_a", created=created, nonce=nonce))
    return headers


def _verify(headers, *, body: bytes = BODY, url: str = URL, method: str = "POST", now: int = NOW,
            keys: dict[str, str] | None = None) -> sig.Verified:
    known = {"fky_a": PUBLIC} if keys is None else keys
    return sig.verify_request(method=method, url=url, headers=headers, body=body, resolve_key=known.get, now=now)


def _reason(headers, **kwargs) -> str:
    with pytest.raises(sig.SignatureError) as caught:
        _verify(headers, **kwargs)
    return caught.value.reason


def test_a_signed_request_verifies_and_names_its_key_nonce_and_time():
    headers = _signed()
    assert headers["Signature-Input"].startswith('oao=("@method" "@target-uri" "content-digest");created=')
    verified = _verify(headers)
    assert (verified.key_id, verified.nonce, verified.created) == ("fky_a", "n-1", NOW)


def test_header_names_are_case_insensitive():
    assert _verify([(k.lower(), v) for k, v in _signed().items()]).key_id == "fky_a"


def test_an_unsigned_request_is_refused():
    assert _reason({"Content-Type": "application/json"}) == "unsigned"


def test_a_tampered_body_is_refused():
    assert _reason(_signed(), body=BODY.replace(b"1}", b"9}")) == "digest_mismatch"


def test_a_recomputed_digest_without_a_new_signature_is_refused():
    headers = _signed()
    tampered = BODY.replace(b"1}", b"9}")
    headers["Content-Digest"] = sig.content_digest(tampered)
    assert _reason(headers, body=tampered) == "bad_signature"


@pytest.mark.parametrize("change", [{"url": URL.replace("fln_1", "fln_2")}, {"method": "PUT"},
                                    {"url": URL.replace("b.example", "evil.example")}])
def test_a_request_sent_elsewhere_than_signed_is_refused(change):
    assert _reason(_signed(), **change) == "bad_signature"


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_signatures_older_or_newer_than_five_minutes_are_refused(skew, ok):
    headers = _signed(created=NOW + skew)
    if ok:
        assert _verify(headers).created == NOW + skew
    else:
        assert _reason(headers) == "stale"


def test_an_unknown_key_is_refused():
    assert _reason(_signed(), keys={}) == "unknown_key"


def test_another_key_with_the_same_id_is_refused():
    assert _reason(_signed(), keys={"fky_a": sig.public_key_of(sig.new_private_key())}) == "bad_signature"


def test_a_signature_must_cover_the_target_and_the_digest_and_carry_a_nonce():
    partial = {"Content-Type": "application/json"}
    partial.update(sig.sign_request(method="POST", url=URL, headers=partial, body=BODY, private_key=KEY,
                                    key_id="fky_a", created=NOW, nonce="n", components=("@method", "content-digest")))
    assert _reason(partial) == "malformed"
    no_nonce = _signed()
    no_nonce["Signature-Input"] = no_nonce["Signature-Input"].replace(';nonce="n-1"', "")
    assert _reason(no_nonce) == "malformed"


@pytest.mark.parametrize("garbage", ['oao=("@method"', "oao=:not base64!:", "1x=()", 'oao=("a" "a");created=1'])
def test_malformed_signature_headers_are_refused_not_crashed_on(garbage):
    headers = _signed()
    headers["Signature-Input"] = garbage
    assert _reason(headers) in ("malformed", "unsigned")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_header_text_is_refused_cleanly(signature_input, signature):
    headers = {**_signed(), "Signature-Input": signature_input, "Signature": signature}
    with pytest.raises(sig.SignatureError):
        _verify(headers)
