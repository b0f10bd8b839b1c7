"""Robust parsing of VLM answers: a 0-100 score, or four category shares normalised to sum 1.

An answer is unparsable (no number where one is expected, an all-zero share list) or out of range
(outside 0..100); either way it is dropped by the caller and counted, never turned into a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)\s*```", re.S)
_FRACTION = re.compile(rf"({_NUMBER})\s*(?:/|out of)\s*(100|10)\b", re.I)
_NUMBERS = re.compile(rf"(?<![\w.]){_NUMBER}(?!\w|\.\d)")
_LIST = re.compile(rf"\[\s*({_NUMBER})\s*%?\s*,\s*({_NUMBER})\s*%?\s*,\s*({_NUMBER})\s*%?\s*,\s*({_NUMBER})\s*%?\s*\]")
_NAMED = {name: re.compile(rf"{name}\W{{0,4}}({_NUMBER})", re.I) for name in ("urban", "rural", "mountain", "highland")}

UNPARSABLE = "unparsable"
OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True)
class Parsed:
    """A parsed answer: ``value`` (float or share vector) or None with ``problem`` saying why."""

    value: float | np.ndarray | None
    problem: str | None = None


def _unfence(text: str) -> str:
    fenced = _FENCE.search(text)
    return fenced.group(1) if fenced else text


def parse_score(text: str | None) -> Parsed:
    """A 0-100 score from a bare number, a number in text or a code fence, ``85/100`` or ``8/10``."""
    if not text or not text.strip():
        return Parsed(None, UNPARSABLE)
    body = _unfence(text)
    fraction = _FRACTION.search(body)
    if fraction:
        value = float(fraction.group(1)) * 100.0 / float(fraction.group(2))
    else:
        numbers = {float(m) for m in _NUMBERS.findall(body)}
        if len(numbers) != 1:  # none, or several candidates (a range, an echoed scale): no safe reading
            return Parsed(None, UNPARSABLE)
        value = numbers.pop()
    if not 0.0 <= value <= 100.0:
        return Parsed(None, OUT_OF_RANGE)
    return Parsed(value)


def parse_shares(text: str | None) -> Parsed:
    """Four shares (urban, rural, mountain, highland) from ``[a, b, c, d]`` or ``urban: a, ...``, each
    0-100, normalised to sum 1; an all-zero answer is unparsable (there is nothing to normalise)."""
    if not text or not text.strip():
        return Parsed(None, UNPARSABLE)
    body = _unfence(text)
    listed = _LIST.search(body)
    if listed:
        values = [float(g) for g in listed.groups()]
    else:
        named = [rx.search(body) for rx in _NAMED.values()]
        if not all(named):
            return Parsed(None, UNPARSABLE)
        values = [float(m.group(1)) for m in named]
    shares = np.array(values)
    if ((shares < 0) | (shares > 100)).any():
        return Parsed(None, OUT_OF_RANGE)
    total = shares.sum()
    if total <= 0:
        return Parsed(None, UNPARSABLE)
    return Parsed(shares / total)
