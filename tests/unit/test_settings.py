"""Settings: every one is documented in the README, and bad values are refused clearly."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from oao.config import DEFAULT_SECRET_KEY, SETTINGS_DOC, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"
SETTING_FIELDS = [f.name for f in fields(Settings) if f.name != "extra"]


def _readme_settings_table() -> set[str]:
    """The OAO_* names in the first column of the table under the README's Settings heading."""
    section: list[str] = []
    inside = False
    for line in README.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#+\s+(.*)", line)
        if heading:
            if inside:
                break
            inside = heading.group(1).strip().lower().startswith("settings")
            continue
        if inside and line.lstrip().startswith("|"):
            section.append(line)
    assert section, "README.md has no table under a 'Settings' heading"
    first_cells = [row.strip().strip("|").split("|")[0] for row in section]
    return {name for cell in first_cells for name in re.findall(r"\bOAO_[A-Z0-9_]+\b", cell)}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OAO_* setting from the developer's shell leaks into these tests."""
    for name in SETTINGS_DOC:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_documented_setting_is_in_the_readme_settings_table():
    missing = sorted(set(SETTINGS_DOC) - _readme_settings_table())
    assert missing == [], f"add these to the Settings table in README.md: {missing}"


def test_the_readme_settings_table_names_no_setting_that_does_not_exist():
    unknown = sorted(_readme_settings_table() - set(SETTINGS_DOC))
    assert unknown == [], f"README.md documents settings the code does not read: {unknown}"


def test_every_settings_field_has_a_documented_environment_variable():
    undocumented = sorted(f"OAO_{name.upper()}" for name in SETTING_FIELDS
                          if f"OAO_{name.upper()}" not in SETTINGS_DOC)
    assert undocumented == [], f"add these to SETTINGS_DOC in oao/config.py: {undocumented}"
    documented_but_unread = sorted(set(SETTINGS_DOC) - {f"OAO_{name.upper()}" for name in SETTING_FIELDS})
    assert documented_but_unread == []


def test_the_defaults_are_a_valid_development_configuration(clean_env):
    settings = Settings.from_env()

    assert settings == Settings()
    assert settings.env == "development"
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_values_from_the_environment_are_parsed_to_their_types(clean_env):
    clean_env.setenv("OAO_PORT", "9001")
    clean_env.setenv("OAO_EMBEDDED_WORKER", "false")
    clean_env.setenv("OAO_DETOUR_FACTOR", "1.5")
    clean_env.setenv("OAO_SOURCING_POLICY", "fewest_splits")

    settings = Settings.from_env()

    assert (settings.port, settings.embedded_worker) == (9001, False)
    assert (settings.detour_factor, settings.sourcing_policy) == (1.5, "fewest_splits")


def test_production_refuses_the_default_secret_key(clean_env):
    clean_env.setenv("OAO_ENV", "production")

    with pytest.raises(SettingsError, match="OAO_SECRET_KEY"):
        Settings.from_env()


def test_production_refuses_a_short_secret_key(clean_env):
    clean_env.setenv("OAO_ENV", "production")
    clean_env.setenv("OAO_SECRET_KEY", "too-short")

    with pytest.raises(SettingsError, match="at least 32 characters"):
        Settings.from_env()


def test_production_starts_with_a_long_random_secret_key(clean_env):
    clean_env.setenv("OAO_ENV", "production")
    clean_env.setenv("OAO_SECRET_KEY", "k3Jq9vX2mP7rT5wY8zA1bC4dE6fG0hLn")

    assert Settings.from_env().env == "production"


def test_a_port_that_is_not_a_number_is_refused_with_its_name_and_value(clean_env):
    clean_env.setenv("OAO_PORT", "abc")

    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env()

    assert str(excinfo.value) == "OAO_PORT='abc' is not a valid int"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("OAO_EMBEDDED_WORKER", "maybe", "OAO_EMBEDDED_WORKER='maybe'"),
    ("OAO_DETOUR_FACTOR", "far", "OAO_DETOUR_FACTOR='far'"),
    ("OAO_ENV", "staging", "OAO_ENV must be development or production"),
    ("OAO_SOURCING_POLICY", "random", "OAO_SOURCING_POLICY must be"),
    ("OAO_DETOUR_FACTOR", "0.5", "OAO_DETOUR_FACTOR >= 1"),
])
def test_bad_values_are_refused_with_a_message_naming_the_setting(clean_env, name, value, says):
    clean_env.setenv(name, value)

    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env()

    assert says in str(excinfo.value)
