"""EMVCo merchant-presented QR: published vectors, the builder, the decoder's refusals, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oao.payments.emvco import (
    AdditionalData,
    EmvQrError,
    Field,
    MerchantAccount,
    build_payload,
    checksum,
    crc16_ccitt_false,
    decode_fields,
    encode_fields,
    parse_payload,
    static_stall_qr,
)

# The example payload of the EMV QRCPS merchant-presented mode specification (its CRC is A13A),
# reproduced by many public implementations' tests.
EMVCO_SPEC_EXAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
    "520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME9132001"
    "6A0112233449988770708123456786304A13A"
)
# The static BR Code example of the Banco Central do Brasil's Pix manual (an EMV MPM profile).
PIX_MANUAL_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def with_crc(body: str) -> str:
    return body + "6304" + checksum(body + "6304")


def test_the_crc_is_ccitt_false_with_the_standard_check_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_the_specification_example_verifies_and_reads_as_published():
    qr = parse_payload(EMVCO_SPEC_EXAMPLE)
    assert qr.crc == "A13A"
    assert qr.point_of_initiation == "12" and not qr.is_static
    assert qr.merchant_accounts == {"29": {"00": "D15600000000", "05": "A93FO3230Q"},
                                    "31": {"00": "D15600000001", "03": "12345678"}}
    assert (qr.merchant_category_code, qr.currency_numeric, qr.currency) == ("4111", "156", "CNY")
    assert (qr.amount, qr.amount_minor) == ("23.72", 2372)
    assert (qr.country, qr.merchant_name, qr.merchant_city) == ("CN", "BEST TRANSPORT", "BEIJING")
    assert qr.additional_data == {"03": "1234", "06": "***", "07": "A6008667", "09": "ME"}
    assert qr.language_template == {"00": "ZH", "01": "最佳运输", "02": "北京"}
    assert qr.get("55") == "01"


def test_re_encoding_the_specification_example_gives_it_back_byte_for_byte():
    qr = parse_payload(EMVCO_SPEC_EXAMPLE)
    assert with_crc(encode_fields(qr.fields)) == EMVCO_SPEC_EXAMPLE


def test_the_pix_manual_example_is_a_static_qr_without_an_amount():
    qr = parse_payload(PIX_MANUAL_EXAMPLE)
    assert qr.crc == "1D3D" and qr.is_static and qr.amount is None
    assert qr.account("BR.GOV.BCB.PIX") == {"00": "br.gov.bcb.pix", "01": "123e4567-e12b-12d1-a456-426655440000"}
    assert qr.additional_data == {"05": "***"}


def test_the_builder_reproduces_the_pix_manual_example():
    payload = build_payload(
        merchant_name="Fulano de Tal", city="BRASILIA", mcc="0000", currency="986", country="BR",
        accounts=[MerchantAccount(gui="br.gov.bcb.pix", fields={"01": "123e4567-e12b-12d1-a456-426655440000"})],
        additional=AdditionalData(reference_label="***"),
    )
    # The manual leaves out the optional point of initiation (01); ours always says "11" (static).
    manual = parse_payload(PIX_MANUAL_EXAMPLE).fields
    assert parse_payload(payload).fields == (manual[0], Field("01", "11"), *manual[1:])
    assert payload.replace("010211", "", 1)[:-4] == PIX_MANUAL_EXAMPLE[:-4]


def test_a_bad_checksum_is_refused_with_both_values_named():
    tampered = EMVCO_SPEC_EXAMPLE[:-4] + "A13B"
    with pytest.raises(EmvQrError, match="Bad checksum: field 63 says A13B but .* is A13A"):
        parse_payload(tampered)


def test_a_changed_amount_breaks_the_checksum():
    with pytest.raises(EmvQrError, match="Bad checksum"):
        parse_payload(EMVCO_SPEC_EXAMPLE.replace("540523.72", "540599.72"))


def test_a_lowercase_checksum_is_accepted():
    assert parse_payload(EMVCO_SPEC_EXAMPLE[:-4] + "a13a").crc == "A13A"


@pytest.mark.parametrize("body, message", [
    ("00020101021152064111", "claims 6 characters but only 4 remain"),
    ("00020101021152X4", "length 'X4'"),
    ("000201AB0211", "'AB'"),
    ("0000", "length 00"),
    ("000201000201", "appears twice"),
])
def test_broken_structure_is_refused(body, message):
    with pytest.raises(EmvQrError, match=message):
        decode_fields(body)


def test_a_field_longer_than_the_payload_is_refused_before_the_crc_is_checked():
    payload = "00020101021126" + "99" + "0014cn.oao.network" + "6304ABCD"
    with pytest.raises(EmvQrError, match="claims 99 characters"):
        parse_payload(payload)


def _stall_body(**replace: str | None) -> str:
    fields = {"00": "01", "01": "11", "26": "0014cn.oao.network0103abc", "52": "5814", "53": "156",
              "58": "CN", "59": "LAO WANG", "60": "SHANGHAI"}
    for key, value in replace.items():
        if value is None:
            fields.pop(key[1:])
        else:
            fields[key[1:]] = value
    return "".join(f"{k}{len(v):02d}{v}" for k, v in fields.items())


def test_a_valid_hand_made_stall_payload_parses():
    assert parse_payload(with_crc(_stall_body())).account("cn.oao.network") == {"00": "cn.oao.network", "01": "abc"}


@pytest.mark.parametrize("replace, message", [
    ({"f00": "02"}, "Field 00 must be"),
    ({"f01": "13"}, "Field 01 must be"),
    ({"f52": "58A4"}, "4-digit merchant category code"),
    ({"f53": "CNY"}, "3-digit ISO 4217"),
    ({"f58": "cn"}, "2-letter ISO 3166-1"),
    ({"f59": "X" * 26}, "1 to 25 characters"),
    ({"f52": None}, "Field 52 .* is missing"),
    ({"f60": None}, "Field 60 .* is missing"),
    ({"f26": None}, "no merchant account information"),
    ({"f26": "0103abc"}, "no globally unique identifier"),
    ({"f70": "xx"}, "reserved for future use"),
    ({"f54": "12,50"}, "Field 54 must be digits"),
    ({"f54": "0.00"}, "greater than zero"),
])
def test_fields_of_an_unknown_format_are_refused(replace, message):
    with pytest.raises(EmvQrError, match=message):
        parse_payload(with_crc(_stall_body(**replace)))


def test_the_crc_must_be_the_last_field_and_the_payload_must_start_with_00():
    with pytest.raises(EmvQrError, match="must end with the CRC field"):
        parse_payload(_stall_body())
    body = _stall_body()
    with pytest.raises(EmvQrError, match="start with field 00"):
        parse_payload(with_crc(body[6:] + body[:6]))
    with pytest.raises(EmvQrError, match="empty"):
        parse_payload("")


def test_a_payload_over_512_characters_is_refused():
    with pytest.raises(EmvQrError, match="at most 512"):
        parse_payload("0" * 600)


def test_decoder_errors_are_value_errors():
    assert issubclass(EmvQrError, ValueError)


def test_a_static_stall_qr_has_no_amount_and_carries_merchant_and_location():
    payload = static_stall_qr(merchant_name="Lao Wang Jianbing", city="Shanghai", mcc="5814", currency="CNY",
                              merchant_account_id="mer_01m809wnve6hen6seedgsczwmv",
                              location_id="loc_01m809wnve6hen6seedgsczwmw")
    qr = parse_payload(payload)
    assert qr.is_static and qr.point_of_initiation == "11" and qr.amount is None
    assert qr.account("cn.oao.network") == {"00": "cn.oao.network", "01": "mer_01m809wnve6hen6seedgsczwmv",
                                            "02": "loc_01m809wnve6hen6seedgsczwmw"}
    assert (qr.merchant_name, qr.merchant_city, qr.country, qr.currency) == (
        "Lao Wang Jianbing", "Shanghai", "CN", "CNY")
    assert qr.merchant_category_code == "5814"
    assert qr.language_template == {}
    assert qr.additional_data == {}  # a 29-character location id does not fit the 25 of a store label


def test_a_chinese_stall_name_goes_into_the_language_template():
    payload = static_stall_qr(merchant_name="老王煎饼", city="上海", mcc="5814", currency="156",
                              merchant_account_id="m1", location_id="stall-7")
    qr = parse_payload(payload)
    assert (qr.merchant_name, qr.merchant_city) == ("MERCHANT", "CITY")
    assert qr.language_template == {"00": "ZH", "01": "老王煎饼", "02": "上海"}
    assert qr.additional_data == {"03": "stall-7"}


def test_a_long_stall_name_is_shortened_to_the_field_limit():
    qr = parse_payload(static_stall_qr(merchant_name="The Very Long Name Of A Noodle Stall", city="Guangzhou Tianhe",
                                       mcc="5814", currency="CNY", merchant_account_id="m", location_id="l"))
    assert len(qr.merchant_name) <= 25 and len(qr.merchant_city) <= 15


@pytest.mark.parametrize("kwargs, message", [
    ({"mcc": "58"}, "4 digits"),
    ({"currency": "XYZ"}, "Unknown currency"),
    ({"country": "China"}, "2-letter"),
    ({"merchant_name": "老王"}, "printable ASCII"),
    ({"merchant_name": ""}, "1 to 25"),
    ({"amount_minor": 0}, "positive"),
    ({"accounts": []}, "1 to 26"),
])
def test_the_builder_refuses_values_the_format_cannot_carry(kwargs, message):
    args = {"merchant_name": "LAO WANG", "city": "SHANGHAI", "mcc": "5814", "currency": "CNY", "country": "CN",
            "accounts": [MerchantAccount(gui="cn.oao.network", fields={"01": "m"})]} | kwargs
    with pytest.raises(EmvQrError, match=message):
        build_payload(**args)


def test_a_stall_qr_with_ids_too_long_for_the_account_template_is_refused():
    with pytest.raises(EmvQrError, match="exceed the 99 characters"):
        static_stall_qr(merchant_name="A", city="B", mcc="5814", currency="CNY", merchant_account_id="m" * 50,
                        location_id="l" * 40)


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12)
sub_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=12)


@given(
    name=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25),
    city=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=15),
    mcc=st.from_regex(r"[0-9]{4}", fullmatch=True),
    currency=st.sampled_from(["CNY", "HKD", "JPY", "USD", "156", "999"]),
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    accounts=st.lists(st.builds(MerchantAccount, gui=ascii_text,
                                fields=st.dictionaries(st.from_regex(r"0[1-9]|[1-9][0-9]", fullmatch=True),
                                                       sub_values, max_size=3)), min_size=1, max_size=3),
    amount_minor=st.none() | st.integers(1, 10**10),
    additional=st.none() | st.builds(AdditionalData, bill_number=st.none() | ascii_text,
                                     store_label=st.none() | ascii_text, reference_label=st.none() | ascii_text,
                                     terminal_label=st.none() | ascii_text),
    language=st.none() | st.tuples(st.sampled_from(["ZH", "EN"]), sub_values, st.none() | sub_values),
)
def test_build_then_parse_round_trips(name, city, mcc, currency, country, accounts, amount_minor, additional,
                                      language):
    dynamic = amount_minor is not None
    payload = build_payload(merchant_name=name, city=city, mcc=mcc, currency=currency, country=country,
                            accounts=accounts, dynamic=dynamic, amount_minor=amount_minor, additional=additional,
                            language=language)
    qr = parse_payload(payload)
    assert (qr.merchant_name, qr.merchant_city, qr.merchant_category_code, qr.country) == (name, city, mcc, country)
    assert qr.is_static is (not dynamic)
    if currency != "999":
        assert qr.amount_minor == amount_minor
    assert list(qr.merchant_accounts.values()) == [{"00": a.gui, **a.fields} for a in accounts]
    if additional is not None:
        assert qr.additional_data == {f.id: f.value for f in additional.sub_fields()}
    if language is not None:
        assert qr.language_template["01"] == language[1]
    assert with_crc(encode_fields(qr.fields)) == payload


@given(st.lists(st.tuples(st.from_regex(r"[0-9]{2}", fullmatch=True), sub_values), max_size=6,
                unique_by=lambda t: t[0]))
def test_primitive_fields_encode_and_decode_back(pairs):
    fields = tuple(Field(i, v) for i, v in pairs)
    assert decode_fields(encode_fields(fields), parent="xx") == fields


@given(st.integers(0, len(EMVCO_SPEC_EXAMPLE) - 5), st.characters(min_codepoint=0x30, max_codepoint=0x7A))
def test_any_single_character_change_is_refused(position, char):
    if EMVCO_SPEC_EXAMPLE[position] == char:
        return
    tampered = EMVCO_SPEC_EXAMPLE[:position] + char + EMVCO_SPEC_EXAMPLE[position + 1:]
    with pytest.raises(EmvQrError):
        parse_payload(tampered)
