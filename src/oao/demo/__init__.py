"""The demo network `oao demo` loads: a believable OAO network in Hangzhou.

`network` (merchants, locations) and `product_lines` (brands, what is sold
where) describe it as pure data, `catalog` expands products, offers and stock
deterministically, `load` writes it through the ORM in one transaction.
"""

from oao.demo.load import DemoApiKey, DemoCredentials, DemoLogin, demo_loaded, format_credentials, load_demo
from oao.demo.network import DEMO_PASSWORD

__all__ = ["DEMO_PASSWORD", "DemoApiKey", "DemoCredentials", "DemoLogin", "demo_loaded", "format_credentials",
           "load_demo"]
