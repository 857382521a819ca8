"""Server transactions with a hand-advanced clock: every timer, retransmissions, loss."""

from __future__ import annotations

from tongdai.sip.message import Request, parse
from tongdai.sip.transaction import T1, T2, T4, InviteAnswer, ServerTransaction, State, server_key


def _req(method: str = "INVITE", branch: str = "z9hG4bK-1", cseq_method: str | None = None, to_tag: str = "") -> Request:
    tt = f";tag={to_tag}" if to_tag else ""
    raw = (f"{method} sip:9196@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
           f"To: <sip:9196@127.0.0.1>{tt}\r\nFrom: <sip:a@127.0.0.1>;tag=f\r\nCall-ID: c1\r\n"
           f"CSeq: 1 {cseq_method or method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    msg = parse(raw)
    assert isinstance(msg, Request)
    return msg


def test_given_invite_error_response_when_no_ack_then_timer_g_doubles_to_t2_and_timer_h_ends():
    invite = _req()
    txn = ServerTransaction(invite, reliable=False, now=0.0)
    assert txn.respond(invite.response(486, to_tag="x"), 0.0)[0].status == 486
    assert txn.state is State.COMPLETED
    sent_at = []
    now = 0.0
    while not txn.terminated and now < 100:
        now = txn.deadline  # advance the clock to the next deadline
        if txn.expire(now):
            sent_at.append(now)
    gaps = [round(b - a, 3) for a, b in zip([0.0, *sent_at], sent_at, strict=False)]
    assert gaps[:4] == [T1, 2 * T1, 4 * T1, T2]
    assert all(g <= T2 for g in gaps)
    assert now == 64 * T1  # Timer H
    assert txn.terminated


def test_given_invite_error_response_when_ack_arrives_then_confirmed_and_timer_i_ends():
    invite = _req()
    txn = ServerTransaction(invite, reliable=False, now=0.0)
    txn.respond(invite.response(404, to_tag="x"), 0.0)
    ack = _req("ACK", cseq_method="ACK", to_tag="x")
    assert server_key(ack) == txn.key
    assert txn.receive(ack, 0.7) == []
    assert txn.state is State.CONFIRMED and txn.deadline == 0.7 + T4
    assert txn.expire(0.7 + T4 - 0.01) == []
    txn.expire(0.7 + T4)
    assert txn.terminated


def test_given_reliable_transport_then_no_retransmission_and_timer_i_zero():
    invite = _req()
    txn = ServerTransaction(invite, reliable=True, now=0.0)
    txn.respond(invite.response(404, to_tag="x"), 0.0)
    assert txn.deadline == 64 * T1  # only Timer H
    txn.receive(_req("ACK", cseq_method="ACK", to_tag="x"), 1.0)
    assert txn.deadline == 1.0
    txn.expire(1.0)
    assert txn.terminated


def test_given_invite_retransmitted_while_proceeding_then_last_provisional_resent():
    invite = _req()
    txn = ServerTransaction(invite, reliable=False, now=0.0)
    assert txn.receive(invite, 0.1) == []  # nothing sent yet
    txn.respond(invite.response(100), 0.1)
    assert [r.status for r in txn.receive(invite, 0.6)] == [100]


def test_given_2xx_to_invite_then_accepted_absorbs_retransmitted_invite_until_timer_l():
    invite = _req()
    txn = ServerTransaction(invite, reliable=False, now=0.0)
    ok = invite.response(200, to_tag="x")
    txn.respond(ok, 0.0)
    assert txn.state is State.ACCEPTED and txn.deadline == 64 * T1
    assert txn.receive(invite, 1.0) == [ok]  # a retransmitted INVITE is not a new call
    txn.expire(64 * T1)
    assert txn.terminated


def test_given_2xx_to_invite_then_answer_retransmits_until_ack():
    ok = _req().response(200, to_tag="x")
    answer = InviteAnswer(ok, 0.0)
    resent = []
    now = 0.0
    for _ in range(3):
        now = answer.deadline
        out, failed = answer.expire(now)
        assert out == [ok] and not failed
        resent.append(now)
    assert resent == [T1, T1 + 2 * T1, T1 + 6 * T1]
    answer.ack()
    assert answer.deadline is None and answer.expire(100.0) == ([], False)


def test_given_2xx_never_acked_then_given_up_after_64_t1():
    ok = _req().response(200, to_tag="x")
    answer = InviteAnswer(ok, 0.0)
    now, failed, sends = 0.0, False, 0
    while not failed and answer.deadline is not None:
        now = answer.deadline
        out, failed = answer.expire(now)
        sends += len(out)
    assert failed and now == 64 * T1 and sends >= 9


def test_given_non_invite_final_then_retransmissions_answered_until_timer_j():
    options = _req("OPTIONS")
    txn = ServerTransaction(options, reliable=False, now=0.0)
    assert txn.state is State.TRYING
    assert txn.receive(options, 0.1) == []  # Trying: nothing to resend
    txn.respond(options.response(200), 0.2)
    assert txn.state is State.COMPLETED and txn.deadline == 0.2 + 64 * T1
    assert [r.status for r in txn.receive(options, 5.0)] == [200]
    txn.expire(0.2 + 64 * T1)
    assert txn.terminated


def test_given_provisional_then_non_invite_moves_to_proceeding_and_resends_it():
    bye = _req("BYE", to_tag="x")
    txn = ServerTransaction(bye, reliable=False, now=0.0)
    txn.respond(bye.response(100), 0.0)
    assert txn.state is State.PROCEEDING
    assert [r.status for r in txn.receive(bye, 0.5)] == [100]


def test_given_completed_then_later_responses_from_tu_are_ignored():
    options = _req("OPTIONS")
    txn = ServerTransaction(options, reliable=False, now=0.0)
    txn.respond(options.response(200), 0.0)
    assert txn.respond(options.response(500), 0.1) == []


def test_given_rfc2543_peer_without_cookie_then_matched_by_request_fields():
    a = _req(branch="oldstyle-1")
    b = _req(branch="oldstyle-1")
    other = parse(bytes(a).replace(b"Call-ID: c1", b"Call-ID: c2"))
    assert server_key(a) == server_key(b)
    assert server_key(a) != server_key(other)  # type: ignore[arg-type]


def test_given_lossy_link_in_memory_then_error_response_recovered_by_retransmission():
    """A UAC that drops the first two copies of the 486 still gets one before Timer H, and its ACK ends it."""
    invite = _req()
    txn = ServerTransaction(invite, reliable=False, now=0.0)
    delivered = []
    copies = txn.respond(invite.response(486, to_tag="x"), 0.0)
    lost = 2
    now = 0.0
    while not delivered and not txn.terminated:
        if copies and lost == 0:
            delivered.append(now)
        elif copies:
            lost -= 1
        now = txn.deadline
        copies = txn.expire(now)
    assert delivered and delivered[0] < 64 * T1
    txn.receive(_req("ACK", cseq_method="ACK", to_tag="x"), now)
    assert txn.state is State.CONFIRMED
