"""Alembic environment: the URL comes from the caller (oao migrate), metadata from oao.models."""

from alembic import context

from oao.core.db import make_engine
from oao.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
