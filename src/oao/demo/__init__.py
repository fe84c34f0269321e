"""The demo network `oao demo` loads: a believable OAO network in Hangzhou.

`data` describes it (pure data), `catalog` expands products, offers and stock
deterministically, `load` writes it through the ORM in one transaction.
"""

from oao.demo.data import DEMO_PASSWORD
from oao.demo.load import DemoApiKey, DemoCredentials, DemoLogin, demo_loaded, format_credentials, load_demo

__all__ = ["DEMO_PASSWORD", "DemoApiKey", "DemoCredentials", "DemoLogin", "demo_loaded", "format_credentials",
           "load_demo"]
