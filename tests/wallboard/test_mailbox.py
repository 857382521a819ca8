"""A screen's one-slot mailbox: a screen that has not taken its last delta gets one snapshot instead."""

from __future__ import annotations

from tongdai.wallboard.service import Client


def test_a_delta_waits_in_the_mailbox_until_taken():
    c = Client("t")
    c.offer("delta-1", 10.0)
    assert c.wake.is_set()
    assert c.take() == ("delta-1", False, 10.0)
    assert not c.wake.is_set() and c.take() == (None, False, None)


def test_a_second_delta_before_the_first_was_taken_turns_into_a_resync_keeping_the_oldest_change():
    c = Client("t")
    c.offer("delta-1", 10.0)
    c.offer("delta-2", 10.2)
    c.offer("delta-3", 10.3)
    assert c.take() == (None, True, 10.0)
    assert c.skipped == 2
    c.offer("delta-4", 11.0)
    assert c.take() == ("delta-4", False, 11.0)  # back to deltas once it keeps up
