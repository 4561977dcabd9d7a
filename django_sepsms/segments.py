"""How many SMS parts (credits) a text costs.

GSM-7 text fits 160 characters in one SMS and 153 in each part of a longer one;
anything else (Thai included) is sent as UCS-2: 70 and 67. Characters of the
GSM-7 extension table cost two.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import contract

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentInfo:
    """The encoding of a text, its length in that encoding and its parts."""

    encoding: str
    length: int
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def segment_info(text: str) -> SegmentInfo:
    """Return the encoding, encoded length and number of parts of ``text``."""
    if is_gsm7(text):
        length = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, part, encoding = contract.GSM7_SINGLE, contract.GSM7_PART, "GSM-7"
    else:
        # UCS-2 counts UTF-16 code units: an emoji takes two.
        length = len(text.encode("utf-16-le")) // 2
        single, part, encoding = contract.UCS2_SINGLE, contract.UCS2_PART, "UCS-2"
    if length <= single:
        return SegmentInfo(encoding, length, 1)
    return SegmentInfo(encoding, length, -(-length // part))


def count_segments(text: str) -> int:
    """Credits one recipient of ``text`` costs."""
    return segment_info(text).segments
