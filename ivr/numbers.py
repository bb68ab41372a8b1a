"""Callback numbers: checked and written as E.164 before anyone dials them.

A caller gives the number to call back on the keypad (no ``+`` there) or in
the page's form. :func:`check_callback_number` reads it as an international
number (``+44...``, or with the international prefix ``00``, or ``011``
from North America) or else as a national number of the first configured
country, and returns it as E.164 (``+`` country calling code, national
significant number). It refuses, with a sentence saying why, anything that
is not digits, numbers of countries not configured, numbers of the wrong
length, and the premium-rate and service numbers the table below knows:
nobody should be able to make the callback desk ring a paid line.

The table knows the countries Helpline is set up for; it is not a full
numbering plan (TODO(a numbering plan per prefix): lengths and kinds by
area code, e.g. which United Kingdom numbers may have nine digits).

The North American Numbering Plan (+1) is shared by the United States,
Canada and some Caribbean countries: Canada is told by its area codes, the
Caribbean countries by theirs (refused as countries not configured),
anything else is the United States, whose territories (Puerto Rico,
Guam...) count as the United States here.

Messages never repeat the number or its digits (they may reach logs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from signaling.errors import IvrError

MAX_INPUT_CHARS: Final = 32
E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_SEPARATORS: Final = frozenset(" \t\u00a0-.()/")
_ASCII_DIGITS: Final = frozenset("0123456789")


class NumberError(IvrError):
    """A callback number that will not be dialled; the message says why."""

    code = "invalid-number"
    recoverable = True


@dataclass(frozen=True, slots=True)
class Country:
    """How numbers of one country are written.

    `lengths` bounds the national significant number (the digits after the
    calling code); `first` holds the digits it may start with; `refused`
    lists prefixes of it that are never called back, with what they are.
    """

    code: str
    calling_code: str
    lengths: tuple[int, int]
    first: str
    trunk: str = "0"
    exits: tuple[str, ...] = ("00",)
    refused: tuple[tuple[str, str], ...] = ()


_PREMIUM: Final = "premium-rate numbers"
_NANP_EXITS: Final = ("011", "00")

COUNTRIES: Final[Mapping[str, Country]] = {
    c.code: c
    for c in (
        Country("US", "1", (10, 10), "23456789", "1", _NANP_EXITS),
        Country("CA", "1", (10, 10), "23456789", "1", _NANP_EXITS),
        Country("GB", "44", (9, 10), "123578", refused=(
            ("9", _PREMIUM), ("871", _PREMIUM), ("872", _PREMIUM),
            ("873", _PREMIUM), ("70", "personal numbers"), ("76", "pagers"),
        )),
        Country("IE", "353", (7, 9), "12456789"),
        Country("FR", "33", (9, 9), "123456789", refused=(("89", _PREMIUM),)),
        Country("DE", "49", (6, 11), "123456789", refused=(
            ("900", _PREMIUM), ("190", _PREMIUM), ("137", "televoting numbers"),
            ("118", "directory services"),
        )),
        Country("ES", "34", (9, 9), "6789", refused=(
            ("803", _PREMIUM), ("806", _PREMIUM), ("807", _PREMIUM),
            ("905", "televoting numbers"), ("118", "directory services"),
        )),
        Country("IT", "39", (6, 11), "038", "", refused=(
            ("89", _PREMIUM), ("84", "shared-cost numbers"),
        )),
        Country("NL", "31", (9, 9), "123456789", refused=(
            ("90", _PREMIUM), ("66", "pagers"),
        )),
        Country("AU", "61", (9, 9), "23478", exits=("0011", "00"), refused=(
            ("19", _PREMIUM),
        )),
    )
}  # fmt: skip

#: Canadian area codes, geographic and non-geographic.
_CANADA: Final = frozenset(
    "204 226 236 249 250 257 263 289 306 343 354 365 367 368 382 387 403 416 "
    "418 428 431 437 438 450 460 468 474 506 514 519 548 579 581 584 587 600 "
    "604 613 622 639 647 672 683 705 709 742 753 778 780 782 807 819 825 867 "
    "873 879 902 905 942".split()
)
#: Area codes of the other countries of the plan (the Caribbean, Bermuda).
_OTHER_NANP: Final = frozenset(
    "242 246 264 268 284 345 441 473 649 658 664 721 758 767 784 809 829 849 "
    "868 869 876".split()
)
_CALLING_CODES: Final = frozenset(c.calling_code for c in COUNTRIES.values())


def check_callback_number(raw: str, countries: Sequence[str]) -> str:
    """`raw` as E.164, or :class:`NumberError` saying what is wrong.

    `countries` are ISO 3166 codes from :data:`COUNTRIES`; the first is
    the one a national number (no international prefix) belongs to.
    """
    home = _home(countries)
    digits, plus = _digits(raw)
    if plus:
        calling, national = _split_international(digits)
    else:
        calling, national = _split_dialled(digits, home)
    country = _country_of(calling, national, countries)
    _check_national(country, national)
    number = f"+{calling}{national}"
    if not E164.fullmatch(number):
        raise NumberError("the number is too long to be a phone number")
    return number


def _home(countries: Sequence[str]) -> Country:
    unknown = [c for c in countries if c not in COUNTRIES]
    if not countries or unknown:
        # A setting, not a caller's input: checked when settings are read.
        raise ValueError(f"callback countries must be some of {sorted(COUNTRIES)}")
    return COUNTRIES[countries[0]]


def _digits(raw: object) -> tuple[str, bool]:
    """The digits of `raw`, and whether it began with ``+``."""
    if not isinstance(raw, str) or not raw.strip():
        raise NumberError("no phone number was given")
    if len(raw) > MAX_INPUT_CHARS:
        raise NumberError(f"a phone number has at most {MAX_INPUT_CHARS} characters")
    text = raw.strip()
    plus = text.startswith("+")
    kept = [c for c in text.removeprefix("+") if c not in _SEPARATORS]
    if not kept or any(c not in _ASCII_DIGITS for c in kept):
        raise NumberError(
            "a phone number holds only digits, spaces, dashes, dots and "
            "brackets, with + only at the start"
        )
    return "".join(kept), plus


def _split_international(digits: str) -> tuple[str, str]:
    if digits.startswith("0"):
        raise NumberError("after + comes the country calling code, never a 0")
    for size in (1, 2, 3):
        if digits[:size] in _CALLING_CODES:
            calling = digits[:size]
            national = digits[size:]
            country = next(c for c in COUNTRIES.values() if c.calling_code == calling)
            if country.trunk == "0" and national.startswith("0"):
                national = national[1:]  # "+44 (0)20...": the 0 is not dialled
            return calling, national
    raise NumberError("numbers in that country are not called back here")


def _split_dialled(digits: str, home: Country) -> tuple[str, str]:
    """A number typed without ``+``: international after an exit prefix,
    else national in the home country."""
    for exit_prefix in sorted(home.exits, key=len, reverse=True):
        if digits.startswith(exit_prefix):
            return _split_international(digits[len(exit_prefix) :])
    national = digits
    if home.trunk == "1" and len(national) == 11 and national.startswith("1"):
        national = national[1:]
    elif home.trunk == "0" and national.startswith("0"):
        national = national[1:]
    return home.calling_code, national


def _country_of(calling: str, national: str, allowed: Sequence[str]) -> Country:
    if calling == "1":
        _check_nanp(national)
        code = "CA" if national[:3] in _CANADA else "US"
        if national[:3] in _OTHER_NANP:
            code = ""
    else:
        code = next(c.code for c in COUNTRIES.values() if c.calling_code == calling)
    if code not in allowed:
        where = f"in {code}" if code else "in that country"
        raise NumberError(
            f"numbers {where} are not called back here; "
            f"callbacks go to {', '.join(allowed)}"
        )
    return COUNTRIES[code]


def _check_nanp(national: str) -> None:
    """Area code and exchange: NXX, N from 2 to 9, and no N11 service code."""
    if len(national) != 10:
        raise NumberError(
            "a North American number has 10 digits: area code, exchange, line"
        )
    for part, name in ((national[:3], "area code"), (national[3:6], "exchange")):
        if part[0] in "01":
            raise NumberError(f"the {name} cannot start with 0 or 1")
        if part[1:] == "11":
            raise NumberError(f"the {name} is a service code (like 911 or 411)")
    if national[:3] == "900" or national[3:6] == "976":
        raise NumberError(f"{_PREMIUM} cannot be called back")


def _check_national(country: Country, national: str) -> None:
    low, high = country.lengths
    if len(national) < low:
        raise NumberError(f"the number is too short for a number in {country.code}")
    for prefix, what in country.refused:
        if national.startswith(prefix):
            raise NumberError(f"{what} cannot be called back")
    if len(national) > high:
        raise NumberError(f"the number is too long for a number in {country.code}")
    if national[0] not in country.first:
        raise NumberError(f"no number in {country.code} starts that way")
