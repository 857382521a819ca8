"""The digit collector, driven by a hand clock."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from tongdai.media import pcap
from tongdai.media.collector import CollectEnd, CollectResult, CollectSpec, DigitCollector
from tongdai.media.dtmf import Rfc4733Tracker


def _press(collector: DigitCollector, keys: str, start: float, gap: float) -> CollectResult | None:
    result = None
    for i, key in enumerate(keys):
        result = collector.digit(key, start + i * gap) or result
    return result


def test_given_max_digits_reached_then_collection_finishes_at_the_last_digit():
    c = DigitCollector(CollectSpec(max_digits=4), now=0.0)
    assert _press(c, "123", 1.0, 0.5) is None
    assert c.digit("4", 2.5) == CollectResult("1234", CollectEnd.MAX_DIGITS, None, 2.5)
    assert c.digit("5", 2.6) is None and c.next_deadline() is None


def test_given_a_terminator_then_digits_come_back_without_it():
    c = DigitCollector(CollectSpec(max_digits=16, terminators="#*"), now=0.0)
    result = _press(c, "0912*", 1.0, 0.3)
    assert result == CollectResult("0912", CollectEnd.TERMINATOR, "*", pytest.approx(2.2))


def test_given_no_digit_when_first_digit_timeout_passes_then_it_ends_empty():
    c = DigitCollector(CollectSpec(max_digits=4, first_digit_timeout=5.0, inter_digit_timeout=2.0), now=10.0)
    assert c.next_deadline() == 15.0
    assert c.tick(14.99) is None
    assert c.tick(15.0) == CollectResult("", CollectEnd.FIRST_DIGIT_TIMEOUT, None, 15.0)
    assert c.tick(16.0) is None


def test_given_a_pause_after_some_digits_then_inter_digit_timeout_returns_them():
    c = DigitCollector(CollectSpec(max_digits=4, first_digit_timeout=5.0, inter_digit_timeout=2.0), now=0.0)
    _press(c, "12", 4.0, 1.0)  # the second digit at 5.0, after the first-digit deadline would have been
    assert c.next_deadline() == 7.0
    assert c.tick(6.9) is None
    assert c.tick(7.5) == CollectResult("12", CollectEnd.INTER_DIGIT_TIMEOUT, None, 7.0)


def test_given_slow_steady_digits_then_total_timeout_wins_over_the_inter_digit_timeout():
    spec = CollectSpec(max_digits=10, first_digit_timeout=5.0, inter_digit_timeout=3.0, total_timeout=6.0)
    c = DigitCollector(spec, now=0.0)
    _press(c, "123", 1.0, 2.0)  # digits at 1, 3, 5: each within the inter-digit timeout
    assert c.next_deadline() == 6.0
    assert c.tick(6.0) == CollectResult("123", CollectEnd.TOTAL_TIMEOUT, None, 6.0)


def test_a_digit_arriving_after_an_unticked_deadline_does_not_extend_collection():
    c = DigitCollector(CollectSpec(max_digits=4, inter_digit_timeout=2.0), now=0.0)
    c.digit("1", 1.0)
    assert c.digit("2", 3.5) == CollectResult("1", CollectEnd.INTER_DIGIT_TIMEOUT, None, 3.0)


def test_terminator_before_min_digits_is_ignored():
    c = DigitCollector(CollectSpec(max_digits=8, min_digits=2, terminators="#"), now=0.0)
    assert c.digit("#", 0.5) is None
    assert _press(c, "7#", 1.0, 0.5) is None
    assert c.result is None
    assert _press(c, "8#", 2.5, 0.5) == CollectResult("78", CollectEnd.TERMINATOR, "#", 3.0)


def test_cancel_returns_what_was_collected_once():
    c = DigitCollector(CollectSpec(max_digits=4), now=0.0)
    c.digit("5", 0.1)
    assert c.cancel(0.2) == CollectResult("5", CollectEnd.CANCELLED, None, 0.2)
    assert c.cancel(0.3) is None and c.tick(100.0) is None


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        CollectSpec(max_digits=0)
    with pytest.raises(ValueError):
        CollectSpec(max_digits=2, min_digits=3)


def test_sipp_rfc4733_captures_played_in_sequence_into_a_collector_yield_the_digit_string():
    """The captures' events, one after another 0.5 s apart, through the tracker into the collector."""
    names = ["0", "9", "1", "2", "star", "5", "pound"]
    tracker = Rfc4733Tracker()
    collector = DigitCollector(CollectSpec(max_digits=10, terminators="#", inter_digit_timeout=2.0), now=0.0)
    result = None
    for n, name in enumerate(names):
        packets = list(pcap.rtp_packets(SHARED_DATA / "rtp-pcap" / f"dtmf_2833_{name}.pcap", 101))
        first = packets[0][0]
        for when, packet in packets:
            now = 0.5 + n * 0.5 + (when - first)
            for d in tracker.receive(packet, now):
                result = collector.digit(d.digit, now) or result
    assert result is not None
    assert (result.digits, result.end, result.terminator) == ("0912*5", CollectEnd.TERMINATOR, "#")
