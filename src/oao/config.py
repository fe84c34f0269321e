"""Settings from `OAO_*` environment variables (see the table in the README).

Every setting lives in SETTINGS_DOC so a test can prove each one is documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me"

SETTINGS_DOC: dict[str, str] = {
    "OAO_ENV": "`development` (default) or `production`; production refuses the default secret key",
    "OAO_DATABASE_URL": "SQLAlchemy URL; default `sqlite:///./var/oao.sqlite3`, or `postgresql://user:pw@host/db`",
    "OAO_SECRET_KEY": "secret for signing pickup codes and sessions; must be set in production",
    "OAO_HOST": "address `oao serve` binds (default `127.0.0.1`)",
    "OAO_PORT": "port `oao serve` listens on (default `8000`)",
    "OAO_EMBEDDED_WORKER": "run background jobs in a thread of `oao serve` (default `true`; "
                           "set `false` when running `oao worker`)",
    "OAO_WORKER_INTERVAL_SECONDS": "how often the worker looks for due jobs (default `5`)",
    "OAO_RESERVATION_MINUTES": "how long stock stays reserved for an unpaid order (default `15`)",
    "OAO_PICKUP_HOLD_HOURS": "how long a ready pickup waits before a no-show releases the stock (default `48`)",
    "OAO_QUOTE_TTL_MINUTES": "how long a fulfillment quote can be ordered from (default `10`)",
    "OAO_COURIER_SPEED_KMH": "average courier speed for delivery and transfer ETAs (default `18`)",
    "OAO_DETOUR_FACTOR": "road distance over straight-line distance (default `1.35`)",
    "OAO_TRANSFER_HANDLING_MINUTES": "handling time added to a store-to-store transfer (default `30`)",
    "OAO_SOURCING_POLICY": "`nearest` (default), `fewest_splits` or `balance_load`",
    "OAO_LOG_LEVEL": "`INFO` (default), `DEBUG`, `WARNING`",
    "OAO_PUBLIC_URL": "the address shoppers and partners reach this network at: the OpenID Connect issuer, "
                      "links in QR codes and provider callbacks (default `http://127.0.0.1:8000`)",
    "OAO_MEMBER_CODE_SECONDS": "how long a member's rotating QR code is valid, at most 60 (default `60`)",
    "OAO_PAYMENT_PROVIDER": "wallet provider: `sandbox` (default, the built-in test wallet) or `alipay`",
    "OAO_PAYMENT_CODE_TIMEOUT_SECONDS": "how long a scanned payment code may stay \"user paying\" before "
                                        "OAO cancels it (default `60`)",
    "OAO_SANDBOX_WALLET_CHAOS": "the sandbox wallet sends its notifications late, twice and out of order, like "
                                "real wallets do (default `true`)",
    "OAO_ALIPAY_APP_ID": "Alipay application id (with `OAO_PAYMENT_PROVIDER=alipay`)",
    "OAO_ALIPAY_GATEWAY": "Alipay OpenAPI gateway URL (default the production gateway)",
    "OAO_ALIPAY_PRIVATE_KEY_FILE": "PEM file with the application's RSA private key (signs requests)",
    "OAO_ALIPAY_PUBLIC_KEY_FILE": "PEM file with Alipay's RSA public key (verifies responses and notifications)",
    "OAO_EXTERNAL_OIDC_ISSUER": "issuer URL of an external OpenID Connect provider shoppers may log in with "
                                "(the \"log in with WeChat\" role); unset disables it",
    "OAO_EXTERNAL_OIDC_CLIENT_ID": "OAO's client id at the external OpenID Connect provider",
    "OAO_EXTERNAL_OIDC_CLIENT_SECRET": "OAO's client secret at the external OpenID Connect provider",
    "OAO_EXTERNAL_OIDC_NAME": "the name on the external login button (default `WeChat`)",
    "OAO_PLATFORM_FEE_BPS": "the operator's platform fee on payments it collects, in basis points (1/100 of a "
                            "percent), 0 to 10000 (default `300`, i.e. 3%)",
    "OAO_WEBHOOKS_ALLOW_PRIVATE_HOSTS": "allow loopback and private-network addresses as webhook endpoints "
                                        "(default `false`; only for a receiver on a host or network you trust)",
    "OAO_SHARING_MIN_GROUP_SIZE": "smallest number of distinct members an aggregated statistic shared with a "
                                  "partner may describe (k, default `20`); a policy may raise it",
    "OAO_INSIGHTS_RETRAIN_HOURS": "how old a merchant's last recommendations training may get before the worker "
                                  "trains again (default `24`; needs the `oao[insights]` extra)",
}


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite:///./var/oao.sqlite3"
    secret_key: str = DEFAULT_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = 8000
    embedded_worker: bool = True
    worker_interval_seconds: float = 5.0
    reservation_minutes: int = 15
    pickup_hold_hours: int = 48
    quote_ttl_minutes: int = 10
    courier_speed_kmh: float = 18.0
    detour_factor: float = 1.35
    transfer_handling_minutes: int = 30
    sourcing_policy: str = "nearest"
    log_level: str = "INFO"
    public_url: str = "http://127.0.0.1:8000"
    member_code_seconds: int = 60
    payment_provider: str = "sandbox"
    payment_code_timeout_seconds: int = 60
    sandbox_wallet_chaos: bool = True
    alipay_app_id: str = ""
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    alipay_private_key_file: str = ""
    alipay_public_key_file: str = ""
    external_oidc_issuer: str = ""
    external_oidc_client_id: str = ""
    external_oidc_client_secret: str = ""
    external_oidc_name: str = "WeChat"
    platform_fee_bps: int = 300
    webhooks_allow_private_hosts: bool = False
    sharing_min_group_size: int = 20
    insights_retrain_hours: float = 24.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = os.environ.get(f"OAO_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in ("development", "production"):
            raise SettingsError(f"OAO_ENV must be development or production, not {self.env!r}")
        if self.env == "production" and (self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32):
            raise SettingsError("OAO_ENV=production needs OAO_SECRET_KEY set to a random value "
                                "of at least 32 characters (the default is public).")
        if self.sourcing_policy not in ("nearest", "fewest_splits", "balance_load"):
            raise SettingsError("OAO_SOURCING_POLICY must be nearest, fewest_splits or balance_load")
        for name in ("reservation_minutes", "pickup_hold_hours", "quote_ttl_minutes", "worker_interval_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"OAO_{name.upper()} must be positive, not {getattr(self, name)}")
        if not 1 <= self.member_code_seconds <= 60:
            raise SettingsError("OAO_MEMBER_CODE_SECONDS must be between 1 and 60")
        if self.payment_code_timeout_seconds <= 0:
            raise SettingsError("OAO_PAYMENT_CODE_TIMEOUT_SECONDS must be positive")
        if self.payment_provider not in ("sandbox", "alipay"):
            raise SettingsError("OAO_PAYMENT_PROVIDER must be sandbox or alipay")
        if self.payment_provider == "alipay" and not (self.alipay_app_id and self.alipay_private_key_file
                                                      and self.alipay_public_key_file):
            raise SettingsError("OAO_PAYMENT_PROVIDER=alipay needs OAO_ALIPAY_APP_ID, OAO_ALIPAY_PRIVATE_KEY_FILE "
                                "and OAO_ALIPAY_PUBLIC_KEY_FILE")
        if not self.public_url.startswith(("http://", "https://")):
            raise SettingsError("OAO_PUBLIC_URL must be an http(s) URL")
        if self.courier_speed_kmh <= 0 or self.detour_factor < 1:
            raise SettingsError("OAO_COURIER_SPEED_KMH must be > 0 and OAO_DETOUR_FACTOR >= 1")
        if not 0 <= self.platform_fee_bps <= 10_000:
            raise SettingsError("OAO_PLATFORM_FEE_BPS must be between 0 and 10000 (basis points of a payment)")
        if self.sharing_min_group_size < 2:
            raise SettingsError("OAO_SHARING_MIN_GROUP_SIZE must be at least 2: a group of one is a person")
        if self.insights_retrain_hours <= 0:
            raise SettingsError("OAO_INSIGHTS_RETRAIN_HOURS must be positive")


class SettingsError(ValueError):
    pass


def _parse(name: str, raw: str, type_name: object) -> object:
    kind = str(type_name)
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"OAO_{name.upper()}={raw!r} is not a valid {kind}") from None
    return raw
