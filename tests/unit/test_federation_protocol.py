"""Invitation tokens and pickup code hashes of the federation protocol."""

from __future__ import annotations

import json

import pytest

from oao.federation import protocol
from oao.federation.signatures import b64url, b64url_decode, new_private_key, public_key_of

KEY = new_private_key()
NOW = 1_800_000_000


def _invitation(**changes) -> protocol.Invitation:
    values = dict(instance_url="https://a.example", key_id="fky_a", public_key=public_key_of(KEY),
                  capabilities=["order_handoff", "pickup"], nonce="nonce-1", expires_at=NOW + 3600,
                  merchant={"id": "mer_1", "name": "Sweet Lane Bakery"}, terms={"pickup_fee_minor": 0})
    values.update(changes)
    return protocol.Invitation(**values)


def test_an_invitation_round_trips_with_its_signature_checked():
    token = protocol.encode_invitation(_invitation(), private_key=KEY)
    assert token.startswith("oaofed1.")
    decoded = protocol.decode_invitation(token, now=NOW)
    assert decoded == _invitation()
    assert decoded.as_claims()["handshake_url"] == "https://a.example/api/v1/federation/handshake"


def test_a_tampered_invitation_is_refused():
    prefix, body, signature = protocol.encode_invitation(_invitation(), private_key=KEY).split(".")
    claims = json.loads(b64url_decode(body))
    claims["instance_url"] = "https://evil.example"
    forged = f"{prefix}.{b64url(protocol.canonical_json(claims))}.{signature}"
    with pytest.raises(protocol.ProtocolError, match="signature"):
        protocol.decode_invitation(forged, now=NOW)


def test_an_expired_invitation_is_refused():
    token = protocol.encode_invitation(_invitation(), private_key=KEY)
    with pytest.raises(protocol.ProtocolError, match="expired"):
        protocol.decode_invitation(token, now=NOW + 3601)


def test_an_invitation_must_carry_the_key_that_signs_it():
    with pytest.raises(protocol.ProtocolError):
        protocol.encode_invitation(_invitation(public_key=public_key_of(new_private_key())), private_key=KEY)


@pytest.mark.parametrize("garbage", ["", "oaofed1.x", "jwt.a.b", "oaofed1.!!.!!"])
def test_garbage_is_not_an_invitation(garbage):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_invitation(garbage, now=NOW)


def test_the_pickup_point_checks_a_code_against_its_hash_without_learning_it():
    encoded = protocol.hash_pickup_code("K7M2-PQ9X")
    assert "K7M2" not in encoded and protocol.valid_code_hash(encoded)
    assert protocol.check_pickup_code("k7m2pq9x", encoded)
    assert not protocol.check_pickup_code("K7M2PQ9Y", encoded)
    assert protocol.hash_pickup_code("K7M2PQ9X") != encoded, "salted: equal codes hash differently"


def test_a_hash_with_absurd_work_factors_is_refused():
    assert not protocol.check_pickup_code("A", "pbkdf2-sha256$1$AA$AA")
    assert not protocol.valid_code_hash("pbkdf2-sha256$999999999$AA$AA")
    assert not protocol.check_pickup_code("A", "md5$x")
