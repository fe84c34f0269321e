"""Alembic, driven from code so `oao migrate` needs no alembic.ini next to the database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from oao.core.db import normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Raise if the models and the migrations disagree (a migration is missing)."""
    command.check(alembic_config(database_url))
