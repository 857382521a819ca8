"""The `X-Tongdai-*` headers an agent's INVITE carries for the screen pop: readable IVR path, collected
digits percent-encoded, values that cannot break the SIP message, bounded length."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from tongdai.calls.screen_pop import MAX_VALUE, collected, encode_digits, pop_headers, readable_path, safe
from tongdai.sip.message import Request, Response, parse


def test_given_menu_choice_when_path_is_read_then_each_menu_shows_the_key_pressed() -> None:
    path = ["hours", "greeting", "menu", "menu", "sales"]
    assert readable_path(path, {"menu.menu": "1"}) == "hours > greeting > menu (1) > sales"


def test_given_spoken_choice_when_path_is_read_then_the_word_heard_is_shown() -> None:
    assert readable_path(["menu", "support"], {"speech.menu": "support"}) == "menu (support) > support"


def test_given_flow_variables_when_collected_then_only_what_the_caller_entered_or_the_flow_found_is_kept() -> None:
    variables = {"caller": "0901", "number": "1000", "caller_e164": "+84901", "customer_id": "c1", "vip": "true",
                 "menu.menu": "1", "account": "12345", "order": 77, "ok": True, "data": {"x": 1}}
    assert collected(variables) == {"account": "12345", "order": "77"}


def test_given_unsafe_characters_when_digits_are_encoded_then_they_are_percent_encoded() -> None:
    assert encode_digits({"account": "12 34", "note": "a;b=c\r\n"}) == "account=12%2034;note=a%3Bb%3Dc%0D%0A"
    assert unquote("a%3Bb%3Dc") == "a;b=c"


def test_given_many_variables_when_encoded_then_whole_pairs_stop_at_the_bound() -> None:
    value = encode_digits({f"v{i}": "9" * 20 for i in range(50)})
    assert len(value) <= MAX_VALUE and value.endswith("9" * 20)


def test_given_cr_lf_or_long_text_when_made_safe_then_no_line_break_and_bounded() -> None:
    assert "\r" not in safe("sales\r\nVia: evil") and "\n" not in safe("a\nb")
    assert len(safe("x" * 1000)) == MAX_VALUE


def test_given_a_queued_call_when_headers_are_built_then_all_screen_pop_facts_are_there() -> None:
    headers = dict(pop_headers(call_id="abc", task_id="abc-t1", queue="sales", ivr_path=["menu", "collect", "sales"],
                               variables={"menu.menu": "1", "account": "4242"}, customer_id="cust1",
                               recording="on_demand"))
    assert headers == {"x-tongdai-call-id": "abc", "x-tongdai-task-id": "abc-t1", "x-tongdai-queue": "sales",
                       "x-tongdai-ivr-path": "menu (1) > collect > sales", "x-tongdai-digits": "account=4242",
                       "x-tongdai-customer-id": "cust1", "x-tongdai-recording": "on_demand"}


def test_given_no_flow_and_no_customer_when_headers_are_built_then_empty_ones_are_left_out() -> None:
    headers = dict(pop_headers(call_id="abc", task_id="abc", queue="sales", recording="bogus"))
    assert set(headers) == {"x-tongdai-call-id", "x-tongdai-task-id", "x-tongdai-queue"}


def test_given_pop_headers_on_an_invite_when_sent_and_parsed_then_the_phone_reads_them_back() -> None:
    pop = pop_headers(call_id="abc", task_id="abc", queue="hàng chờ", ivr_path=["menu"], variables={"menu.menu": "2"})
    invite = Request("INVITE", "sip:1001@127.0.0.1", [("via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"),
                                                      ("from", "<sip:a@b>;tag=1"), ("to", "<sip:1001@b>"),
                                                      ("call-id", "x"), ("cseq", "1 INVITE"), *pop])
    wire = bytes(invite)
    assert b"X-Tongdai-Ivr-Path: menu (2)\r\n" in wire
    parsed = parse(wire)
    assert parsed.get("x-tongdai-queue") == "hàng chờ" and parsed.get("x-tongdai-call-id") == "abc"


class _RecordingStack:
    """Keeps the INVITEs the B2BUA sends; every device is busy."""

    def __init__(self) -> None:
        self.sent: list[Request] = []

    async def request(self, req: Request, dest: object, **_: object) -> Response:
        self.sent.append(req)
        return req.response(486)


def test_given_extra_headers_when_b2bua_rings_every_device_then_each_invite_carries_them_but_never_a_line_break(
        ) -> None:
    from tongdai.calls.b2bua import B2bua, Destination, Leg

    stack = _RecordingStack()
    b2bua = B2bua(stack, lambda *_: None, host="127.0.0.1", port=5060)
    call = b2bua.new_call("t1", "0901", "1800")
    owner = Leg(call, "caller", "0901", ("127.0.0.1", 5070))
    devices = [("sip:1001@127.0.0.1:5080", ("127.0.0.1", 5080)), ("sip:1001@127.0.0.1:5081", ("127.0.0.1", 5081))]
    extra = [("x-tongdai-queue", "sales"), ("x-tongdai-ivr-path", "menu\r\nVia: forged")]
    leg, final = asyncio.run(b2bua.originate(owner, Destination(devices, "t1", "extension", "1001"), b"",
                                             extra_headers=extra))
    assert leg is None and final is not None and final.status == 486
    assert len(stack.sent) == 2
    for invite in stack.sent:
        assert invite.get("x-tongdai-queue") == "sales" and invite.get("x-tongdai-ivr-path") is None
        assert b"forged" not in bytes(invite)


def test_given_agent_call_event_then_only_staff_and_the_agents_it_concerns_see_it() -> None:
    from tongdai.calls.events import AgentCallChanged

    event = AgentCallChanged(tenant_id="t1", phase="offered", call_id="c", task_id="c", queue="sales",
                             caller="0901234567", user_ids=("u1", "u2"))
    assert event.visible_to("agent", "t1", "u1") and event.visible_to("agent", "t1", "u2")
    assert not event.visible_to("agent", "t1", "u3")  # another agent of the tenant
    assert not event.visible_to("agent", "t2", "u1")  # the same id in another tenant
    assert event.visible_to("supervisor", "t1", "s1") and not event.visible_to("supervisor", "t2", "s1")
    assert event.visible_to("provider_admin", None, "p")
