"""Imports every domain's tables so metadata (Alembic, create_all) sees them all."""

from oao.catalog import models as catalog_models
from oao.core import idempotency, outbox
from oao.core.db import Base
from oao.fulfillment import models as fulfillment_models
from oao.inventory import models as inventory_models
from oao.loyalty import models as loyalty_models
from oao.members import models as members_models
from oao.network import models as network_models
from oao.orders import models as orders_models
from oao.payments import models as payments_models
from oao.pos import models as pos_models

__all__ = ["Base", "catalog_models", "fulfillment_models", "idempotency", "inventory_models", "loyalty_models",
           "members_models", "network_models", "orders_models", "outbox", "payments_models", "pos_models"]
