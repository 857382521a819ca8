"""Client transactions with a hand-advanced clock: Timers A, B, D, E, F, K, ACK of non-2xx, loss."""

from __future__ import annotations

from tongdai.sip.message import Request, Response, parse
from tongdai.sip.transaction import T1, T2, T4, ClientTransaction, State


def _req(method: str = "INVITE") -> Request:
    raw = (f"{method} sip:agent@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-c1\r\n"
           "To: <sip:agent@192.0.2.10>\r\nFrom: <sip:tongdai@127.0.0.1>;tag=t1\r\nCall-ID: out-1\r\n"
           f"CSeq: 7 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    msg = parse(raw)
    assert isinstance(msg, Request)
    return msg


def _resp(req: Request, status: int) -> Response:
    return req.response(status, to_tag="far")


def _run_until_end(txn: ClientTransaction, now: float = 0.0) -> list[float]:
    sent = []
    while not txn.terminated and txn.deadline is not None:
        now = txn.deadline
        if txn.expire(now):
            sent.append(now)
    return sent


def test_given_invite_unanswered_then_timer_a_doubles_and_timer_b_times_out():
    txn = ClientTransaction(_req(), reliable=False)
    assert txn.start(0.0)[0].method == "INVITE"
    sent = _run_until_end(txn)
    assert sent[:4] == [T1, 3 * T1, 7 * T1, 15 * T1]  # intervals 0.5, 1, 2, 4 s...
    assert txn.timed_out and txn.terminated


def test_given_provisional_then_invite_retransmission_stops_but_timer_b_still_runs():
    req = _req()
    txn = ClientTransaction(req, reliable=False)
    txn.start(0.0)
    txn.receive(_resp(req, 180), 0.2)
    assert txn.state is State.PROCEEDING
    assert _run_until_end(txn, 0.2) == []
    assert txn.timed_out


def test_given_busy_then_ack_sent_with_same_branch_and_timer_d_absorbs_retransmissions():
    req = _req()
    txn = ClientTransaction(req, reliable=False)
    txn.start(0.0)
    (ack,) = txn.receive(_resp(req, 486), 0.3)
    assert ack.method == "ACK" and ack.top_via().branch == "z9hG4bK-c1"
    assert ack.to().tag == "far" and str(ack.cseq()) == "7 ACK"
    assert txn.state is State.COMPLETED and txn.deadline == 0.3 + 32.0
    assert [a.method for a in txn.receive(_resp(req, 486), 1.0)] == ["ACK"]  # retransmitted 486: ACK again
    txn.expire(32.3)
    assert txn.terminated and [r.status for r in txn.responses] == [486]


def test_given_2xx_then_invite_transaction_ends_and_tu_gets_it():
    req = _req()
    txn = ClientTransaction(req, reliable=False)
    txn.start(0.0)
    assert txn.receive(_resp(req, 200), 0.1) == []
    assert txn.terminated and txn.responses[-1].status == 200


def test_given_non_invite_then_timer_e_caps_at_t2_and_timer_f_times_out():
    txn = ClientTransaction(_req("OPTIONS"), reliable=False)
    txn.start(0.0)
    sent = _run_until_end(txn)
    gaps = [round(b - a, 3) for a, b in zip([0.0, *sent], sent, strict=False)]
    assert gaps[:4] == [T1, 2 * T1, 4 * T1, T2] and max(gaps) <= T2
    assert txn.timed_out


def test_given_non_invite_provisional_then_retransmits_every_t2_and_final_starts_timer_k():
    req = _req("BYE")
    txn = ClientTransaction(req, reliable=False)
    txn.start(0.0)
    txn.receive(_resp(req, 100), 0.1)
    txn.expire(T1)
    assert txn.deadline == T1 + T2
    txn.receive(_resp(req, 200), 1.0)
    assert txn.state is State.COMPLETED and txn.deadline == 1.0 + T4
    txn.expire(1.0 + T4)
    assert txn.terminated and not txn.timed_out


def test_given_reliable_transport_then_no_retransmission_and_zero_timers_d_k():
    req = _req()
    txn = ClientTransaction(req, reliable=True)
    txn.start(0.0)
    assert txn.deadline == 64 * T1
    txn.receive(_resp(req, 404), 0.1)
    assert txn.deadline == 0.1
    txn.expire(0.1)
    assert txn.terminated


def test_given_first_two_copies_lost_then_answer_to_third_completes_it():
    req = _req("OPTIONS")
    txn = ClientTransaction(req, reliable=False)
    copies = len(txn.start(0.0))
    now = 0.0
    while copies < 3:
        now = txn.deadline
        copies += len(txn.expire(now))
    txn.receive(_resp(req, 200), now + 0.01)
    assert txn.state is State.COMPLETED and not txn.timed_out
