"""Money as integer minor units plus an ISO 4217 currency code."""

from __future__ import annotations

from dataclasses import dataclass

# Active ISO 4217 codes with their minor-unit exponent (those a retailer meets).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2,
    "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2,
    "INR": 2, "ISK": 0, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2,
    "NZD": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2,
    "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2, "BHD": 3, "JOD": 3,
    "OMR": 3, "TND": 3, "MAD": 2, "KES": 2, "BDT": 2, "LKR": 2, "MOP": 2,
}


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units (cents, fen, …)
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int):
            raise TypeError("money amounts are integer minor units")
        if not is_currency(self.currency):
            raise ValueError(f"unknown ISO 4217 currency {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def format(self) -> str:
        exp = CURRENCY_EXPONENTS[self.currency]
        if exp == 0:
            return f"{self.amount} {self.currency}"
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**exp)
        return f"{sign}{units}.{minor:0{exp}d} {self.currency}"
