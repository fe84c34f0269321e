"""Ids are prefixed, unique and sort in the order they were made."""

from oao.core.ids import new_id


def test_ids_carry_their_prefix_and_never_repeat():
    ids = [new_id("ord") for _ in range(10_000)]
    assert all(i.startswith("ord_") and len(i) == 30 for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_made_one_after_another_sort_in_that_order_even_within_a_millisecond():
    ids = [new_id("evt") for _ in range(10_000)]
    assert ids == sorted(ids)
