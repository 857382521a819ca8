"""The pure core of scheduled callbacks with a hand-advanced clock: what is due, what a crash left, and
what each attempt's result makes of a callback (done, retried with spacing, failed after the limit)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tongdai.callbacks.scheduler import (
    Entry,
    Policy,
    Result,
    Status,
    after_attempt,
    due,
    may_change,
    may_place,
    next_wake,
    recover,
)

POLICY = Policy(max_attempts=3, retry_after_s=(60.0, 300.0))
statuses = st.sampled_from(list(Status))
entries = st.lists(st.builds(Entry, id=st.text("abcdef0123", min_size=1, max_size=6), status=statuses,
                             due_at=st.floats(0, 10_000), attempts=st.integers(0, 5)), max_size=30,
                   unique_by=lambda e: e.id)


def test_given_callbacks_when_time_passes_then_only_scheduled_ones_due_are_placed_earliest_first():
    book = [Entry("late", Status.SCHEDULED, 200.0), Entry("early", Status.SCHEDULED, 100.0),
            Entry("future", Status.SCHEDULED, 500.0), Entry("cancelled", Status.CANCELLED, 50.0),
            Entry("placing", Status.IN_PROGRESS, 10.0)]
    assert due(book, 99.0) == []
    assert due(book, 250.0) == ["early", "late"]
    assert next_wake(book) == 100.0


@given(entries, st.floats(0, 10_000))
def test_due_callbacks_are_scheduled_not_in_the_future_and_in_due_order(book, now):
    ids = due(book, now)
    chosen = [next(e for e in book if e.id == i) for i in ids]
    assert all(e.status is Status.SCHEDULED and e.due_at <= now for e in chosen)
    assert [e.due_at for e in chosen] == sorted(e.due_at for e in chosen)
    missed = [e for e in book if e.status is Status.SCHEDULED and e.due_at <= now and e.id not in ids]
    assert missed == []  # nothing due is left behind (under the limit)
    assert all(may_place(e, now) for e in chosen)


@given(entries, st.floats(0, 10_000))
def test_an_in_progress_callback_is_never_due_again_while_its_attempt_runs(book, now):
    placing = {e.id for e in book if e.status is Status.IN_PROGRESS}
    assert not placing & set(due(book, now))


def test_given_answered_then_done_with_the_attempt_counted():
    out = after_attempt(Entry("a", Status.IN_PROGRESS, 100.0), Result.ANSWERED, 130.0, POLICY)
    assert (out.status, out.attempts, out.result) == (Status.DONE, 1, "answered")


def test_given_no_answer_then_retried_after_spacing_until_the_limit_then_failed():
    e = Entry("a", Status.IN_PROGRESS, 100.0)
    first = after_attempt(e, Result.NO_ANSWER, 130.0, POLICY)
    assert (first.status, first.due_at, first.attempts) == (Status.SCHEDULED, 190.0, 1)
    second = after_attempt(Entry("a", Status.IN_PROGRESS, first.due_at, first.attempts), Result.BUSY, 200.0, POLICY)
    assert (second.status, second.due_at, second.attempts, second.result) == (Status.SCHEDULED, 500.0, 2, "busy")
    third = after_attempt(Entry("a", Status.IN_PROGRESS, second.due_at, 2), Result.NO_ANSWER, 510.0, POLICY)
    assert (third.status, third.attempts, third.result) == (Status.FAILED, 3, "no_answer")


@given(st.lists(st.sampled_from([r for r in Result if r is not Result.ANSWERED]), min_size=1, max_size=10),
       st.integers(1, 6))
def test_attempts_are_bounded_by_the_policy_whatever_the_failures(results, max_attempts):
    policy = Policy(max_attempts=max_attempts, retry_after_s=(10.0,))
    e, now, placed = Entry("a", Status.SCHEDULED, 0.0), 0.0, 0
    for result in results:
        if not may_place(e, now):
            break
        placed += 1
        out = after_attempt(Entry(e.id, Status.IN_PROGRESS, e.due_at, e.attempts), result, now, policy)
        e, now = Entry(e.id, out.status, out.due_at, out.attempts), out.due_at
        assert out.status is Status.FAILED or out.due_at >= now
    assert placed <= max_attempts
    assert e.status in (Status.SCHEDULED, Status.FAILED)


def test_given_crash_during_attempt_then_recovered_as_interrupted_and_due_at_once():
    book = [Entry("placing", Status.IN_PROGRESS, 100.0, 0), Entry("waiting", Status.SCHEDULED, 900.0),
            Entry("last", Status.IN_PROGRESS, 100.0, 2)]
    out = recover(book, 400.0, POLICY)
    assert set(out) == {"placing", "last"}
    assert (out["placing"].status, out["placing"].due_at, out["placing"].result) == (Status.SCHEDULED, 400.0,
                                                                                     "interrupted")
    assert out["last"].status is Status.FAILED  # its third attempt was the last


def test_only_a_scheduled_callback_may_be_cancelled_or_moved():
    assert may_change(Status.SCHEDULED)
    assert not any(may_change(s) for s in Status if s is not Status.SCHEDULED)
