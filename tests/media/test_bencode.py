"""Bencode as rtpengine's ng protocol uses it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongdai.media.bencode import BencodeError, decode, encode


def test_encode_sorts_dict_keys_and_encodes_text_as_utf8():
    assert encode({"sdp": "v=0", "command": "offer", "n": -3}) == b"d7:command5:offer1:ni-3e3:sdp3:v=0e"
    assert encode(["Việt", b"\xff"]) == b"l6:Vi\xe1\xbb\x87t1:\xffe"


def test_decode_gives_text_and_nested_structures():
    assert decode(b"d6:result2:ok5:callsl2:c12:c2e4:numsi42ee") == {
        "result": "ok", "calls": ["c1", "c2"], "nums": 42}


def test_binary_strings_that_are_not_utf8_stay_bytes():
    assert decode(b"3:\xff\xfe\x00") == b"\xff\xfe\x00"


@pytest.mark.parametrize("bad", [b"", b"i12", b"5:abc", b"l1:a", b"d1:ai1e", b"x", b"ie", b"di1ei2ee",
                                 b"i1ei2e"])
def test_malformed_input_raises_bencode_error(bad):
    with pytest.raises(BencodeError):
        decode(bad)


def test_booleans_and_floats_are_refused_rather_than_guessed():
    with pytest.raises(TypeError):
        encode(True)
    with pytest.raises(TypeError):
        encode(1.5)


values = st.recursive(
    st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(values)
def test_round_trip_of_text_ints_lists_and_dicts(value):
    assert decode(encode(value)) == value
