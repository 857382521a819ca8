"""SDP parse/serialise and offer/answer for audio, including hold and resume directions."""

from __future__ import annotations

import pytest

from tongdai.sip.errors import SipParseError
from tongdai.sip.sdp import answer_audio, answer_direction, parse_sdp

OFFER = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP 9 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n{dir}"
         "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")


@pytest.mark.parametrize(("offered", "ours", "expected"), [
    ("sendrecv", "sendrecv", "sendrecv"),
    ("sendonly", "sendrecv", "recvonly"),   # the caller puts us on hold
    ("recvonly", "sendrecv", "sendonly"),
    ("inactive", "sendrecv", "inactive"),
    ("sendrecv", "inactive", "inactive"),   # no media plane yet
    ("sendonly", "sendonly", "inactive"),
])
def test_answer_direction_mirrors_the_offer_within_what_we_can_do(offered, ours, expected):
    assert answer_direction(offered, ours) == expected


def test_given_offer_then_answer_takes_offerers_first_common_codec_and_refuses_video():
    offer = parse_sdp(OFFER.format(dir=""))
    answer = answer_audio(offer, address="127.0.0.1", port=30000)
    audio, video = answer.media
    assert audio.formats == ["8", "101"] and audio.port == 30000  # G722 (9) is not taken here
    assert video.port == 0
    back = parse_sdp(str(answer))
    assert back.media[0].rtpmap()["101"] == "telephone-event/8000"


def test_given_hold_offer_then_answer_is_recvonly_and_resume_is_sendrecv():
    hold = parse_sdp(OFFER.format(dir="a=sendonly\r\n"))
    assert hold.media[0].direction == "sendonly"
    assert answer_audio(hold, address="127.0.0.1", port=30000).media[0].direction == "recvonly"
    resume = parse_sdp(OFFER.format(dir=""))
    assert answer_audio(resume, address="127.0.0.1", port=30000).media[0].direction == "sendrecv"


def test_given_no_common_codec_then_488():
    offer = parse_sdp("v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n")
    with pytest.raises(SipParseError) as err:
        answer_audio(offer, address="127.0.0.1", port=30000)
    assert err.value.status == 488


def test_given_garbage_then_parse_error():
    with pytest.raises(SipParseError):
        parse_sdp("this is not sdp")
