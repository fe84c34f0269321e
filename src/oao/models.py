"""Imports every domain's tables so metadata (Alembic, create_all) sees them all."""

from oao.catalog import models as catalog_models
from oao.core import idempotency, outbox
from oao.core.db import Base
from oao.devices import models as devices_models
from oao.federation import models as federation_models
from oao.fulfillment import models as fulfillment_models
from oao.insights import models as insights_models
from oao.inventory import models as inventory_models
from oao.loyalty import models as loyalty_models
from oao.members import models as members_models
from oao.network import models as network_models
from oao.orders import models as orders_models
from oao.payments import models as payments_models
from oao.pos import models as pos_models
from oao.settlement import models as settlement_models
from oao.sharing import models as sharing_models
from oao.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "catalog_models",
    "devices_models",
    "federation_models",
    "fulfillment_models",
    "idempotency",
    "insights_models",
    "inventory_models",
    "loyalty_models",
    "members_models",
    "network_models",
    "orders_models",
    "outbox",
    "payments_models",
    "pos_models",
    "settlement_models",
    "sharing_models",
    "webhooks_models",
]
