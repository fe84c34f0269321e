"""EMVCo Merchant-Presented QR (EMV QRCPS-MPM): the payload a static stall QR carries (S6).

A payload is a run of ID / length / value fields: two digits of ID, two digits
of length (in characters) and the value. Some IDs are templates whose value is
itself such a run (merchant account information 26-51, additional data 62,
merchant information in another language 64, unreserved templates 80-99).
The last field is 63, a CRC-16/CCITT-FALSE over everything before its value
(including "6304"), taken over the UTF-8 bytes and written as 4 uppercase hex digits.

Pure: no database, no web framework. `build_payload` makes one, `parse_payload`
checks and reads one, `static_stall_qr` is the one a location prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

MAX_PAYLOAD = 512
DEFAULT_GUI = "cn.oao.network"

# ISO 4217: numeric code and minor-unit exponent, for the currencies stalls in the network use.
CURRENCIES: dict[str, tuple[str, int]] = {
    "CNY": ("156", 2), "HKD": ("344", 2), "MOP": ("446", 2), "TWD": ("901", 2), "SGD": ("702", 2),
    "MYR": ("458", 2), "THB": ("764", 2), "IDR": ("360", 2), "PHP": ("608", 2), "VND": ("704", 0),
    "JPY": ("392", 0), "KRW": ("410", 0), "INR": ("356", 2), "USD": ("840", 2), "EUR": ("978", 2),
    "GBP": ("826", 2), "BRL": ("986", 2), "AUD": ("036", 2),
}
_BY_NUMERIC = {numeric: (alpha, exp) for alpha, (numeric, exp) in CURRENCIES.items()}

class EmvQrError(ValueError):
    """A payload (or the values to build one) that is not a valid EMV merchant-presented QR."""


@dataclass(frozen=True, slots=True)
class Field:
    """One ID/length/value field; a template's value is its own fields, in payload order."""

    id: str
    value: str | tuple[Field, ...]

    def text(self) -> str:
        return self.value if isinstance(self.value, str) else encode_fields(self.value)


def is_template(field_id: str, *, parent: str | None = None) -> bool:
    """Whether an ID holds nested fields (only at the top level; sub-templates are primitive)."""
    if parent is not None:
        return False
    n = int(field_id)
    return 26 <= n <= 51 or n in (62, 64) or 80 <= n <= 99


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final xor."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def checksum(text_before_crc_value: str) -> str:
    """The 4 uppercase hex digits of field 63 for a payload ending in "6304"."""
    return f"{crc16_ccitt_false(text_before_crc_value.encode('utf-8')):04X}"


def encode_fields(fields: Sequence[Field]) -> str:
    """Serialise fields as ID/length/value, checking IDs and lengths (1 to 99 characters)."""
    out = []
    for f in fields:
        if not re.fullmatch(r"[0-9]{2}", f.id):
            raise EmvQrError(f"Field ID {f.id!r} is not two digits.")
        text = f.text()
        if not 1 <= len(text) <= 99:
            raise EmvQrError(f"Field {f.id} has {len(text)} characters; a value has 1 to 99.")
        out.append(f"{f.id}{len(text):02d}{text}")
    return "".join(out)


def decode_fields(text: str, *, parent: str | None = None) -> tuple[Field, ...]:
    """Split ID/length/value fields, nesting templates; refuses bad lengths and repeated IDs."""
    where = f"in template {parent}" if parent else "in the payload"
    fields: list[Field] = []
    seen: set[str] = set()
    i = 0
    while i < len(text):
        head = text[i:i + 4]
        if len(head) < 4:
            raise EmvQrError(f"Truncated field at position {i} {where}: {head!r}.")
        field_id, length_text = head[:2], head[2:]
        if not (field_id.isascii() and field_id.isdigit()):
            raise EmvQrError(f"Field ID {field_id!r} at position {i} {where} is not two digits.")
        if not (length_text.isascii() and length_text.isdigit()):
            raise EmvQrError(f"Field {field_id} {where} has length {length_text!r}, not two digits.")
        length = int(length_text)
        if length == 0:
            raise EmvQrError(f"Field {field_id} {where} has length 00; a present field has a value.")
        value = text[i + 4:i + 4 + length]
        if len(value) < length:
            raise EmvQrError(f"Field {field_id} {where} claims {length} characters but only "
                             f"{len(value)} remain.")
        if field_id in seen:
            raise EmvQrError(f"Field {field_id} appears twice {where}.")
        seen.add(field_id)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise EmvQrError(f"Field {field_id} {where} contains a control character.")
        if is_template(field_id, parent=parent):
            fields.append(Field(field_id, decode_fields(value, parent=field_id)))
        else:
            fields.append(Field(field_id, value))
        i += 4 + length
    return tuple(fields)


@dataclass(frozen=True, slots=True)
class MerchantAccount:
    """Merchant account information (a template 26-51): a globally unique identifier plus its own fields."""

    gui: str
    fields: Mapping[str, str] = field(default_factory=dict)  # sub-IDs 01-99, meaning set by the GUI's owner


@dataclass(frozen=True, slots=True)
class AdditionalData:
    """Template 62. `None` leaves a field out; "***" asks the wallet app to prompt the shopper for it."""

    bill_number: str | None = None  # 01
    mobile_number: str | None = None  # 02
    store_label: str | None = None  # 03
    loyalty_number: str | None = None  # 04
    reference_label: str | None = None  # 05
    customer_label: str | None = None  # 06
    terminal_label: str | None = None  # 07
    purpose: str | None = None  # 08

    def sub_fields(self) -> tuple[Field, ...]:
        values = (self.bill_number, self.mobile_number, self.store_label, self.loyalty_number,
                  self.reference_label, self.customer_label, self.terminal_label, self.purpose)
        out = []
        for n, value in enumerate(values, start=1):
            if value is not None:
                if not 1 <= len(value) <= 25:
                    raise EmvQrError(f"Additional data field 0{n} has {len(value)} characters; 1 to 25 allowed.")
                out.append(Field(f"0{n}", value))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class MerchantPresentedQr:
    """A decoded payload: every field in payload order (without 63), with named accessors."""

    fields: tuple[Field, ...]
    crc: str

    def get(self, field_id: str) -> str | tuple[Field, ...] | None:
        return next((f.value for f in self.fields if f.id == field_id), None)

    def _text(self, field_id: str) -> str | None:
        value = self.get(field_id)
        return value if isinstance(value, str) else None

    def _sub(self, field_id: str) -> dict[str, str]:
        value = self.get(field_id)
        return {} if not isinstance(value, tuple) else {f.id: f.text() for f in value}

    @property
    def point_of_initiation(self) -> str | None:
        return self._text("01")

    @property
    def is_static(self) -> bool:
        """A static QR is reused for many payments; the shopper types the amount when none is given."""
        return self.point_of_initiation != "12"

    @property
    def merchant_category_code(self) -> str:
        return self._text("52") or ""

    @property
    def currency_numeric(self) -> str:
        return self._text("53") or ""

    @property
    def currency(self) -> str | None:
        """The ISO 4217 alphabetic code when it is one we know."""
        known = _BY_NUMERIC.get(self.currency_numeric)
        return known[0] if known else None

    @property
    def amount(self) -> str | None:
        return self._text("54")

    @property
    def amount_minor(self) -> int | None:
        """The amount in minor units of a known currency; None when absent or the currency is unknown."""
        known = _BY_NUMERIC.get(self.currency_numeric)
        if self.amount is None or known is None:
            return None
        minor = Decimal(self.amount).scaleb(known[1])
        if minor != minor.to_integral_value():
            raise EmvQrError(f"Amount {self.amount} has more decimals than {known[0]} allows.")
        return int(minor)

    @property
    def country(self) -> str:
        return self._text("58") or ""

    @property
    def merchant_name(self) -> str:
        return self._text("59") or ""

    @property
    def merchant_city(self) -> str:
        return self._text("60") or ""

    @property
    def postal_code(self) -> str | None:
        return self._text("61")

    @property
    def merchant_accounts(self) -> dict[str, dict[str, str]]:
        """Templates 26-51 by ID, each as sub-ID -> value (sub-ID 00 is the globally unique identifier)."""
        return {f.id: self._sub(f.id) for f in self.fields if 26 <= int(f.id) <= 51}

    def account(self, gui: str) -> dict[str, str] | None:
        """The merchant account published under a globally unique identifier (compared case-insensitively)."""
        return next((a for a in self.merchant_accounts.values() if a.get("00", "").lower() == gui.lower()), None)

    @property
    def additional_data(self) -> dict[str, str]:
        return self._sub("62")

    @property
    def language_template(self) -> dict[str, str]:
        return self._sub("64")


def _check_top_level(fields: tuple[Field, ...]) -> None:
    ids = [f.id for f in fields]
    if not ids or ids[0] != "00":
        raise EmvQrError("The payload must start with field 00 (payload format indicator).")
    for f in fields:
        n = int(f.id)
        if 65 <= n <= 79:
            raise EmvQrError(f"Field {f.id} is reserved for future use by EMVCo; this payload is of an unknown format.")
        rule = _FORMATS.get(f.id)
        if rule is not None:
            pattern, what = rule
            if not isinstance(f.value, str) or not re.fullmatch(pattern, f.value):
                raise EmvQrError(f"Field {f.id} must be {what}, not {f.text()!r}.")
        if 26 <= n <= 51:
            sub = {s.id: s for s in f.value} if isinstance(f.value, tuple) else {}
            if "00" not in sub:
                raise EmvQrError(f"Merchant account template {f.id} has no globally unique identifier (sub-field 00).")
    for required, what in (("52", "merchant category code"), ("53", "transaction currency"),
                           ("58", "country code"), ("59", "merchant name"), ("60", "merchant city")):
        if required not in ids:
            raise EmvQrError(f"Field {required} ({what}) is missing.")
    if not any(2 <= int(i) <= 51 for i in ids):
        raise EmvQrError("The payload has no merchant account information (fields 02-51).")
    if "54" in ids and Decimal(next(f.value for f in fields if f.id == "54")) <= 0:  # type: ignore[arg-type]
        raise EmvQrError("Field 54 (amount) must be greater than zero.")
    if ("56" in ids or "57" in ids) and "55" not in ids:
        raise EmvQrError("A convenience fee (56/57) needs the tip indicator 55.")


_FORMATS: dict[str, tuple[str, str]] = {
    "00": (r"01", '"01" (payload format indicator)'),
    "01": (r"1[12]", '"11" (static) or "12" (dynamic)'),
    "52": (r"[0-9]{4}", "a 4-digit merchant category code"),
    "53": (r"[0-9]{3}", "a 3-digit ISO 4217 numeric currency code"),
    "54": (r"(?=.{1,13}$)[0-9]+(\.[0-9]*)?", "digits with an optional decimal point, at most 13 characters"),
    "55": (r"0[123]", '"01", "02" or "03" (tip or convenience indicator)'),
    "56": (r"(?=.{1,13}$)[0-9]+(\.[0-9]*)?", "a fixed convenience fee"),
    "57": (r"(?=.{1,5}$)[0-9]+(\.[0-9]*)?", "a convenience fee percentage"),
    "58": (r"[A-Z]{2}", "a 2-letter ISO 3166-1 country code"),
    "59": (r".{1,25}", "a merchant name of 1 to 25 characters"),
    "60": (r".{1,15}", "a merchant city of 1 to 15 characters"),
    "61": (r".{1,10}", "a postal code of 1 to 10 characters"),
}


def parse_payload(payload: str) -> MerchantPresentedQr:
    """Check and read a payload: structure, lengths, field formats and the CRC in field 63."""
    if not isinstance(payload, str) or not payload:
        raise EmvQrError("The payload is empty.")
    if len(payload) > MAX_PAYLOAD:
        raise EmvQrError(f"The payload has {len(payload)} characters; at most {MAX_PAYLOAD} are allowed.")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise EmvQrError('The payload must end with the CRC field 63 ("6304" and 4 hex digits).')
    fields = decode_fields(payload)
    if fields[-1].id != "63" or any(f.id == "63" for f in fields[:-1]):
        raise EmvQrError("Field 63 (CRC) must be the last field, once.")
    given = fields[-1].text()
    if not re.fullmatch(r"[0-9A-Fa-f]{4}", given):
        raise EmvQrError(f"Field 63 must be 4 hexadecimal digits, not {given!r}.")
    expected = checksum(payload[:-4])
    if given.upper() != expected:
        raise EmvQrError(f"Bad checksum: field 63 says {given} but the payload's CRC-16/CCITT-FALSE is {expected}.")
    body = fields[:-1]
    _check_top_level(body)
    return MerchantPresentedQr(fields=body, crc=given.upper())


def encode_payload(fields: Sequence[Field]) -> str:
    """Serialise fields (without 63) and append the CRC field, checking the result parses."""
    text = encode_fields(fields) + "6304"
    payload = text + checksum(text)
    parse_payload(payload)
    return payload


def _currency_numeric(currency: str) -> tuple[str, int]:
    if re.fullmatch(r"[0-9]{3}", currency):
        known = _BY_NUMERIC.get(currency)
        return currency, (known[1] if known else 2)
    known_alpha = CURRENCIES.get(currency.upper())
    if known_alpha is None:
        raise EmvQrError(f"Unknown currency {currency!r}; give an ISO 4217 numeric code or one of "
                         f"{', '.join(sorted(CURRENCIES))}.")
    return known_alpha


def _ans(value: str, name: str, limit: int) -> str:
    if not 1 <= len(value) <= limit:
        raise EmvQrError(f"{name} must be 1 to {limit} characters, not {len(value)}.")
    if not all(0x20 <= ord(c) <= 0x7E for c in value):
        raise EmvQrError(f"{name} must be printable ASCII (put a local-language name in the language template).")
    return value


def build_payload(*, merchant_name: str, city: str, mcc: str, currency: str, country: str,
                  accounts: Sequence[MerchantAccount], dynamic: bool = False, amount_minor: int | None = None,
                  postal_code: str | None = None, additional: AdditionalData | None = None,
                  language: tuple[str, str, str | None] | None = None) -> str:
    """Build a payload; `language` is (ISO 639 code, name, city or None) in that language (template 64)."""
    numeric, exponent = _currency_numeric(currency)
    if not re.fullmatch(r"[0-9]{4}", mcc):
        raise EmvQrError(f"A merchant category code is 4 digits, not {mcc!r}.")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise EmvQrError(f"A country is a 2-letter ISO 3166-1 code in capitals, not {country!r}.")
    if not 1 <= len(accounts) <= 26:
        raise EmvQrError("A payload carries 1 to 26 merchant accounts (templates 26-51).")
    fields = [Field("00", "01"), Field("01", "12" if dynamic else "11")]
    for n, account in enumerate(accounts, start=26):
        if not 1 <= len(account.gui) <= 32:
            raise EmvQrError("A globally unique identifier is 1 to 32 characters.")
        sub = [Field("00", account.gui)]
        for sub_id, value in sorted(account.fields.items()):
            if not re.fullmatch(r"[0-9]{2}", sub_id) or sub_id == "00":
                raise EmvQrError(f"Merchant account sub-field IDs are 01-99, not {sub_id!r}.")
            sub.append(Field(sub_id, value))
        fields.append(Field(str(n), tuple(sub)))
    fields += [Field("52", mcc), Field("53", numeric)]
    if amount_minor is not None:
        if not isinstance(amount_minor, int) or amount_minor <= 0:
            raise EmvQrError("An amount must be a positive number of minor units.")
        amount = str(Decimal(amount_minor).scaleb(-exponent)) if exponent else str(amount_minor)
        if len(amount) > 13:
            raise EmvQrError("An amount has at most 13 characters.")
        fields.append(Field("54", amount))
    fields += [Field("58", country), Field("59", _ans(merchant_name, "A merchant name", 25)),
               Field("60", _ans(city, "A merchant city", 15))]
    if postal_code is not None:
        fields.append(Field("61", _ans(postal_code, "A postal code", 10)))
    if additional is not None and additional.sub_fields():
        fields.append(Field("62", additional.sub_fields()))
    if language is not None:
        code, local_name, local_city = language
        if not re.fullmatch(r"[A-Za-z]{2}", code):
            raise EmvQrError(f"A language preference is a 2-letter ISO 639 code, not {code!r}.")
        if not 1 <= len(local_name) <= 25 or (local_city is not None and not 1 <= len(local_city) <= 15):
            raise EmvQrError("A local-language name is 1 to 25 characters and its city 1 to 15.")
        sub = [Field("00", code.upper()), Field("01", local_name)]
        if local_city is not None:
            sub.append(Field("02", local_city))
        fields.append(Field("64", tuple(sub)))
    return encode_payload(fields)


def _ascii_fallback(value: str, limit: int, default: str) -> str:
    kept = "".join(c for c in value if 0x20 <= ord(c) <= 0x7E).strip()
    return (kept or default)[:limit].strip() or default


def static_stall_qr(*, merchant_name: str, city: str, mcc: str, currency: str, merchant_account_id: str,
                    location_id: str, gui: str = DEFAULT_GUI, country: str = "CN",
                    store_label: str | None = None, language: str = "ZH") -> str:
    """The static QR a stall prints: no amount (the shopper types it), our account and the location id.

    Names longer than the fields allow are shortened; a name that is not plain ASCII goes
    into the language template, with its ASCII characters (or "MERCHANT") as field 59.
    """
    if not merchant_account_id or not location_id:
        raise EmvQrError("A stall QR needs the merchant account id and the location id.")
    if 12 + len(gui) + len(merchant_account_id) + len(location_id) > 99:
        raise EmvQrError("The identifier, merchant account id and location id together exceed the 99 characters "
                         "of a merchant account template.")
    if store_label is None and len(location_id) <= 25:
        store_label = location_id
    ascii_name = _ascii_fallback(merchant_name, 25, "MERCHANT")
    ascii_city = _ascii_fallback(city, 15, "CITY")
    local = None
    if ascii_name != merchant_name.strip()[:25] or ascii_city != city.strip()[:15]:
        local = (language, merchant_name.strip()[:25] or ascii_name, city.strip()[:15] or None)
    return build_payload(
        merchant_name=ascii_name, city=ascii_city, mcc=mcc, currency=currency, country=country,
        accounts=[MerchantAccount(gui=gui, fields={"01": merchant_account_id, "02": location_id})],
        dynamic=False, additional=AdditionalData(store_label=store_label), language=local,
    )
