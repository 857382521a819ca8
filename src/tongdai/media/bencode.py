"""Bencode, the encoding of rtpengine's ng control protocol (integers, byte strings, lists, dicts)."""

from __future__ import annotations


class BencodeError(ValueError):
    """The bytes are not valid bencode."""


def encode(value: object) -> bytes:
    """Encode ints, str/bytes, lists and dicts (keys sorted, as the format requires)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: object, out: list[bytes]) -> None:
    if isinstance(value, bool):  # bool is an int: refuse the ambiguity rather than send 0/1
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        items = [(k.encode() if isinstance(k, str) else k, v) for k, v in value.items()]
        for key, item in sorted(items):
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> object:
    """Decode one complete value; dict keys and strings come back as `str` when they are UTF-8."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise BencodeError(f"trailing bytes at {end}")
    return value


def _decode(data: bytes, i: int) -> tuple[object, int]:
    if i >= len(data):
        raise BencodeError("unexpected end")
    c = data[i : i + 1]
    if c == b"i":
        end = data.find(b"e", i)
        if end < 0:
            raise BencodeError("unterminated integer")
        try:
            return int(data[i + 1 : end]), end + 1
        except ValueError as exc:
            raise BencodeError(f"bad integer at {i}") from exc
    if c == b"l":
        items: list[object] = []
        i += 1
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i)
            items.append(item)
        return items, i + 1
    if c == b"d":
        result: dict[str, object] = {}
        i += 1
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i)
            if not isinstance(key, str):
                raise BencodeError(f"dict key is not text at {i}")
            result[key], i = _decode(data, i)
        return result, i + 1
    if c.isdigit():
        return _decode_string(data, i)
    raise BencodeError(f"unexpected byte {c!r} at {i}")


def _decode_string(data: bytes, i: int) -> tuple[object, int]:
    colon = data.find(b":", i)
    if colon < 0 or not data[i:colon].isdigit():
        raise BencodeError(f"bad string length at {i}")
    start = colon + 1
    end = start + int(data[i:colon])
    if end > len(data):
        raise BencodeError("string runs past the end")
    raw = data[start:end]
    try:
        return raw.decode(), end
    except UnicodeDecodeError:
        return raw, end  # binary payloads (rare in ng) stay bytes
