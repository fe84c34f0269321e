"""Member codes, pairwise refs and consent filtering: pure logic, no database."""

from datetime import UTC, datetime

import pytest

from oao.members import codes, pairwise
from oao.members.consents import ProfileFacts, age_band, classes_for_scope, oidc_claims, shared_profile

NET = codes.network_tag("https://oao.example")
SECRET = "s" * 40
NOW = datetime(2026, 11, 17, 2, 0, tzinfo=UTC)


def test_a_new_code_is_short_uppercase_and_checks_out():
    code = codes.new_member_code(network=NET, secret=SECRET)
    assert len(code) == codes.CODE_LEN == 18
    assert code.isalnum() and code == code.upper()
    assert code.startswith(NET)
    assert codes.check_member_code(code, network=NET, secret=SECRET) is None


def test_changing_any_character_of_a_code_is_detected():
    code = codes.new_member_code(network=NET, secret=SECRET)
    for i in range(codes.NETWORK_LEN, len(code)):
        other = "1" if code[i] != "1" else "2"
        tampered = code[:i] + other + code[i + 1:]
        assert codes.check_member_code(tampered, network=NET, secret=SECRET) is codes.CodeFault.TAMPERED


def test_a_code_of_another_network_is_recognised_as_such():
    theirs = codes.new_member_code(network=codes.network_tag("https://other.example"), secret="x" * 40)
    assert codes.check_member_code(theirs, network=NET, secret=SECRET) is codes.CodeFault.OTHER_NETWORK


@pytest.mark.parametrize("text", ["", "ABC", "A" * 19, "abcdefghijklmnopqr", "OOOOOOOOOOOOOOOOOO", "é" * 18])
def test_malformed_codes_are_refused(text):
    assert codes.check_member_code(text, network=NET, secret=SECRET) is codes.CodeFault.MALFORMED


def test_what_a_person_types_is_normalised():
    assert codes.normalise(" ab12-cd34 ") == "AB12CD34"


def test_pairwise_refs_are_stable_per_merchant_and_differ_between_merchants():
    a1 = pairwise.member_ref(secret=SECRET, merchant_id="mer_a", member_id="mem_01jc9zzzzzzzzzzzzzzzzzzzzz")
    a2 = pairwise.member_ref(secret=SECRET, merchant_id="mer_a", member_id="mem_01jc9zzzzzzzzzzzzzzzzzzzzz")
    b = pairwise.member_ref(secret=SECRET, merchant_id="mer_b", member_id="mem_01jc9zzzzzzzzzzzzzzzzzzzzz")
    assert a1 == a2 != b
    assert "01jc9" not in a1
    assert pairwise.member_id_from_ref(secret=SECRET, merchant_id="mer_a", ref=a1) == "mem_01jc9zzzzzzzzzzzzzzzzzzzzz"
    assert pairwise.member_id_from_ref(secret=SECRET, merchant_id="mer_b", ref=a1) is None
    assert pairwise.member_id_from_ref(secret=SECRET, merchant_id="mer_a", ref=a1[:-2] + "AA") is None
    assert pairwise.member_id_from_ref(secret=SECRET, merchant_id="mer_a", ref="not a ref") is None


def test_unusual_member_ids_still_round_trip():
    ref = pairwise.member_ref(secret=SECRET, merchant_id="m", member_id="legacy-42")
    assert pairwise.member_id_from_ref(secret=SECRET, merchant_id="m", ref=ref) == "legacy-42"


def test_age_bands_never_reveal_the_birth_year():
    assert age_band(None, NOW) is None
    assert age_band(2010, NOW) == "under-18"
    assert age_band(2000, NOW) == "25-34"
    assert age_band(1950, NOW) == "65+"


def test_only_consented_profile_fields_are_shared():
    facts = ProfileFacts(name="Li Na", email="li@example.com", email_verified=True, phone="+8613800000000",
                         phone_verified=False, birth_year=1990, gender="female")
    assert shared_profile(facts, [], NOW) == {}
    assert shared_profile(facts, ["profile.name", "profile.age_band"], NOW) == {"name": "Li Na", "age_band": "35-44"}
    everything = shared_profile(facts, ["profile.name", "profile.email", "profile.phone", "profile.gender"], NOW)
    assert oidc_claims(everything, "openid email") == {"email": "li@example.com", "email_verified": True}
    assert oidc_claims(everything, "openid")  == {}
    assert classes_for_scope("openid profile phone") == ["profile.name", "profile.phone", "profile.age_band",
                                                         "profile.gender"]
