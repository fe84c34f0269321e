"""Two admins writing the same data-sharing policy at the same moment both succeed, one after the other:
the last writer's document is the current version and every version stays in the history, numbered
without gaps. Meaningful on PostgreSQL (there, a first write finds no row to lock, and a writer whose
locked row was superseded while it waited finds none either); on SQLite writers queue anyway."""

from __future__ import annotations

import threading
import time

import pytest

from oao.core.auth import Principal, Role
from oao.sharing import service as sharing
from tests import factories as f
from tests.conftest import T0


def _doc(data_class: str) -> dict:
    return {"permissions": [{"data_class": data_class, "purposes": ["settlement"]}], "prohibitions": []}


@pytest.mark.parametrize("earlier_versions", [0, 1], ids=["first-write", "later-write"])
def test_concurrent_writes_of_one_policy_keep_every_version_and_the_last_writer_wins(db, earlier_versions):
    with db.unit_of_work() as s:
        bakery, corner = f.merchant(s, "Sweet Lane Bakery", at=T0).id, f.merchant(s, "Daily Corner", at=T0).id
    admin = Principal(kind="api_key", id="key_bakery", name="bakery admin", role=Role.MERCHANT_ADMIN,
                      merchant_id=bakery)

    def put(s, data_class):
        return sharing.put_policy(s, principal=admin, owner_merchant_id=bakery, recipient_kind="partner_merchant",
                                  recipient_id=corner, document=_doc(data_class), now=T0)

    if earlier_versions:
        with db.unit_of_work() as s:
            put(s, "order_reference")
    written = threading.Event()
    out: dict[str, object] = {}

    def first():
        with db.unit_of_work() as s:
            out["first"] = put(s, "basket_total").version
            written.set()
            time.sleep(0.6)  # the second writer has looked for the current version meanwhile and waits

    def second():
        written.wait(10)
        try:
            with db.unit_of_work() as s:
                out["second"] = put(s, "line_items").version
        except Exception as exc:  # an IntegrityError here is the bug
            out["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert (out["first"], out["second"]) == (earlier_versions + 1, earlier_versions + 2), out
    with db.read() as s:
        history = sharing.list_policies(s, owner_merchant_id=bakery, history=True)
        assert [p.version for p in history] == list(range(1, earlier_versions + 3))
        [current] = sharing.list_policies(s, owner_merchant_id=bakery)
        assert current.version == earlier_versions + 2
        assert current.document["permissions"][0]["data_class"] == "line_items", "the last writer wins"
        assert all(p.superseded_at is not None for p in history[:-1])
