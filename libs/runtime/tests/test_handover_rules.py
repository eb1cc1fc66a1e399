"""The handover's own rules, in-process: what it holds, what it gives back, and its bound; and how
the relay reads the ids a NOTIFY names."""

from __future__ import annotations

from crm_runtime.outbox import Handover
from crm_runtime.relay import named
from runtime_helpers import group_created


def staged(handover: Handover, first_id: int, sizes: list[int]) -> list[int]:
    ids = list(range(first_id, first_id + len(sizes)))
    events = [group_created("acc_rules", f"g{i}") for i in ids]
    handover.put(ids, events, [b"x" * size for size in sizes])
    return ids


def test_rows_are_taken_once_and_the_ones_not_held_are_named():
    handover = Handover()
    handover.open = True
    staged(handover, 10, [100, 200])
    held, missing = handover.take([9, 10, 11])
    assert [r["id"] for r in held] == [10, 11] and missing == [9]
    assert handover.take([10, 11]) == ([], [10, 11])
    assert len(handover) == 0 and handover.held_bytes == 0


def test_a_handover_that_is_not_open_keeps_nothing():
    handover = Handover()
    staged(handover, 1, [100])
    assert len(handover) == 0 and handover.take([1]) == ([], [1])


def test_the_oldest_rows_leave_when_the_payloads_pass_the_bound():
    handover = Handover(most_bytes=1000)
    handover.open = True
    staged(handover, 1, [400, 400])
    staged(handover, 3, [300])  # 1,100 bytes: the oldest goes
    assert handover.held_bytes == 700
    held, missing = handover.take([1, 2, 3])
    assert missing == [1] and [r["id"] for r in held] == [2, 3]


def test_a_discarded_row_is_not_given_back_and_closing_empties_it():
    handover = Handover()
    handover.open = True
    staged(handover, 1, [10, 10, 10])
    handover.discard([2])
    assert handover.take([2]) == ([], [2])
    handover.close()
    assert not handover.open and len(handover) == 0 and handover.held_bytes == 0


def test_notified_ids_are_read_in_order_and_anything_else_means_read_the_table():
    assert named(["5,7", "6", "7"]) == [5, 6, 7]
    assert named([]) == []
    assert named(["5", ""]) is None  # a requeue, or more ids than a payload holds
    assert named(["5,x"]) is None  # not ours: never guessed at
