"""Callback numbers: tables of what callers type, per country, and the E.164
number or the refusal each must give; then any text at all."""

from __future__ import annotations

import datetime as dt
import functools
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ivr.interpreter import (
    Action,
    CallStarted,
    Digit,
    FormSubmitted,
    HangUp,
    Interpreter,
    PlayPrompt,
    RequestCallback,
)
from ivr.menu import Menu
from ivr.numbers import COUNTRIES, NumberError, check_callback_number

NANP = ("US", "CA")
EVERY = tuple(COUNTRIES)


@pytest.mark.parametrize(
    ("raw", "countries", "number"),
    [
        # United States and Canada: national with or without the 1, or +1.
        ("212 555 0123", NANP, "+12125550123"),
        ("(212) 555-0123", NANP, "+12125550123"),
        ("1-212-555-0123", NANP, "+12125550123"),
        ("2125550123", NANP, "+12125550123"),
        ("+1 212 555 0123", NANP, "+12125550123"),
        ("212.555.0123", NANP, "+12125550123"),
        ("  212 555 0123  ", NANP, "+12125550123"),
        ("416 555 0199", NANP, "+14165550199"),  # Toronto
        ("+1 604 555 0142", ("CA",), "+16045550142"),  # Vancouver
        ("800 555 0100", NANP, "+18005550100"),  # toll-free may call back
        ("787 555 0100", NANP, "+17875550100"),  # Puerto Rico counts as US
        # International prefixes typed on a keypad (no "+" there).
        ("011 44 20 7946 0000", ("US", "GB"), "+442079460000"),
        ("00 44 20 7946 0000", ("US", "GB"), "+442079460000"),
        ("0011 61 2 9876 5432", ("AU",), "+61298765432"),
        ("00 1 212 555 0123", ("GB", "US"), "+12125550123"),
        # United Kingdom: trunk 0 at home, none after +44, "(0)" tolerated.
        ("020 7946 0000", ("GB",), "+442079460000"),
        ("+44 20 7946 0000", ("GB",), "+442079460000"),
        ("+44 (0)20 7946 0000", ("GB",), "+442079460000"),
        ("07700 900123", ("GB",), "+447700900123"),
        ("0113 496 0000", ("GB",), "+441134960000"),  # Leeds: 011 is national
        ("016977 3456", ("GB",), "+44169773456"),  # nine digits
        ("0800 123 4567", ("GB",), "+448001234567"),
        # Ireland, France, Germany, Spain, Italy, the Netherlands, Australia.
        ("01 234 5678", ("IE",), "+35312345678"),
        ("+353 87 123 4567", ("IE",), "+353871234567"),
        ("01 23 45 67 89", ("FR",), "+33123456789"),
        ("+33 6 12 34 56 78", ("FR",), "+33612345678"),
        ("030 1234567", ("DE",), "+49301234567"),
        ("+49 171 1234567", ("DE",), "+491711234567"),
        ("+49 3641 123456", ("DE",), "+493641123456"),
        ("912 345 678", ("ES",), "+34912345678"),
        ("+34 612 345 678", ("ES",), "+34612345678"),
        ("06 1234 5678", ("IT",), "+390612345678"),  # Italy keeps the 0
        ("+39 06 1234 5678", ("IT",), "+390612345678"),
        ("+39 312 345 6789", ("IT",), "+393123456789"),
        ("020 123 4567", ("NL",), "+31201234567"),
        ("+31 6 12345678", ("NL",), "+31612345678"),
        ("02 9876 5432", ("AU",), "+61298765432"),
        ("0412 345 678", ("AU",), "+61412345678"),
        ("+61 412 345 678", ("AU",), "+61412345678"),
    ],
)
def test_numbers_accepted(raw: str, countries: tuple[str, ...], number: str) -> None:
    assert check_callback_number(raw, countries) == number


@pytest.mark.parametrize(
    ("raw", "countries", "words"),
    [
        ("", NANP, "no phone number"),
        ("   ", NANP, "no phone number"),
        ("+", NANP, "only digits"),
        ("212-555-CALL", NANP, "only digits"),
        ("212 555 0123 ext 4", NANP, "only digits"),
        ("1+212 555 0123", NANP, "only digits"),
        ("++1 212 555 0123", NANP, "only digits"),
        ("\u0662\u0661\u0662\u0665\u0665\u0665\u0660\u0661\u0662\u0663", NANP, "only"),
        ("\uff12\uff11\uff12\uff15\uff15\uff15\uff10\uff11\uff12\uff13", NANP, "only"),
        ("212\x00555\x000123", NANP, "only digits"),
        ("1" * 33, NANP, "at most 32 characters"),
        ("+0 212 555 0123", NANP, "never a 0"),
        # North America: NXX area code and exchange, no N11, no premium.
        ("911", NANP, "10 digits"),
        ("212 555 012", NANP, "10 digits"),
        ("212 555 01234", NANP, "10 digits"),
        ("012 555 0123", NANP, "area code cannot start with 0 or 1"),
        ("+1 112 555 0123", NANP, "area code cannot start with 0 or 1"),
        ("212 055 0123", NANP, "exchange cannot start with 0 or 1"),
        ("212 155 0123", NANP, "exchange cannot start with 0 or 1"),
        ("411 555 0123", NANP, "area code is a service code"),
        ("212 911 0123", NANP, "exchange is a service code"),
        ("900 555 0123", NANP, "premium-rate"),
        ("212 976 0123", NANP, "premium-rate"),
        ("+1 809 555 0123", NANP, "not called back here"),  # Dominican Rep.
        ("876 555 0123", NANP, "not called back here"),  # Jamaica
        ("+1 416 555 0199", ("US",), "numbers in CA are not called back"),
        ("+1 212 555 0123", ("CA",), "numbers in US are not called back"),
        # Countries not configured, or not in the table at all.
        ("+44 20 7946 0000", NANP, "numbers in GB are not called back"),
        ("011 33 1 23 45 67 89", NANP, "numbers in FR are not called back"),
        ("+81 3 1234 5678", EVERY, "that country are not called back"),
        ("+7 495 123 4567", EVERY, "that country are not called back"),
        # Lengths and kinds the table knows.
        ("09098 790000", ("GB",), "premium-rate"),
        ("+44 871 123 4567", ("GB",), "premium-rate"),
        ("070 1234 5678", ("GB",), "personal numbers"),
        ("020 7946 00", ("GB",), "too short"),
        ("020 7946 00000", ("GB",), "too long"),
        ("999", ("GB",), "too short"),
        ("+44 6 1234 5678", ("GB",), "starts that way"),
        ("+33 8 99 12 34 56", ("FR",), "premium-rate"),
        ("01 23 45 67 8", ("FR",), "too short"),
        ("0900 1234567", ("DE",), "premium-rate"),
        ("0137 1234567", ("DE",), "televoting"),
        ("11833", ("DE",), "too short"),
        ("806 123 456", ("ES",), "premium-rate"),
        ("512 345 678", ("ES",), "starts that way"),
        ("899 123456", ("IT",), "premium-rate"),
        ("0900 1234567", ("NL",), "premium-rate"),
        ("1900 123 456", ("AU",), "premium-rate"),
        ("05 1234 5678", ("AU",), "starts that way"),
        ("+353 1 234", ("IE",), "too short"),
    ],
)
def test_numbers_refused(raw: str, countries: tuple[str, ...], words: str) -> None:
    with pytest.raises(NumberError) as caught:
        check_callback_number(raw, countries)
    assert caught.value.code == "invalid-number"
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "raw", ["212 555 0123", "+44 20 7946 0000", "09098 790000", "212-555-CALL"]
)
def test_messages_never_repeat_the_digits(raw: str) -> None:
    for countries in (NANP, ("GB",)):
        try:
            check_callback_number(raw, countries)
        except NumberError as exc:
            assert not re.search(r"[0-9]{4}", str(exc)), str(exc)


def test_a_bad_setting_is_not_the_callers_fault() -> None:
    with pytest.raises(ValueError, match="callback countries"):
        check_callback_number("212 555 0123", ())
    with pytest.raises(ValueError, match="callback countries"):
        check_callback_number("212 555 0123", ("US", "XX"))


E164 = re.compile(r"\+[1-9][0-9]{6,14}")
KEYPAD_LIKE = st.text(alphabet="0123456789+ -()#*.", max_size=24)


@given(
    raw=st.one_of(st.text(max_size=40), KEYPAD_LIKE),
    countries=st.lists(st.sampled_from(EVERY), min_size=1, max_size=4, unique=True),
)
@example(raw="+1" + "9" * 30, countries=["US"])
@example(raw="0" * 32, countries=["GB"])
@example(raw="+353" + "1" * 12, countries=["IE"])
def test_any_text_is_a_number_or_a_number_error(raw: str, countries: list[str]) -> None:
    try:
        number = check_callback_number(raw, countries)
    except NumberError as exc:
        assert str(exc) and exc.code == "invalid-number"
        return
    assert E164.fullmatch(number), number
    assert check_callback_number(number, countries) == number  # a fixed point


@given(
    area=st.from_regex(r"[2-9][02-9][0-9]", fullmatch=True),
    exchange=st.from_regex(r"[2-9][02-9][0-9]", fullmatch=True),
    line=st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_every_plain_north_american_number_is_taken(
    area: str, exchange: str, line: str
) -> None:
    raw = f"({area}) {exchange}-{line}"
    try:
        number = check_callback_number(raw, NANP)
    except NumberError as exc:
        reasons = ("premium-rate", "not called back here")
        assert any(r in str(exc) for r in reasons), str(exc)
        return
    assert number == f"+1{area}{exchange}{line}"


# The interpreter with the number check: what a real call will do.

CALLBACK_MENU = Menu.from_yaml("""\
id: cb
start: offer
nodes:
  offer:
    kind: callback
    prompt: Press 1 for a callback.
    number_prompt: Your number, then hash.
    next: bye
    declined: bye
    attempts: 2
  bye: {kind: hangup}
""")


def callback_call() -> Interpreter:
    call = Interpreter(
        CALLBACK_MENU,
        call_id="c-1",
        hours_state=lambda when: "open",
        clock=lambda: dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC),
        check_number=functools.partial(check_callback_number, countries=NANP),
    )
    call.handle(CallStarted())
    call.handle(Digit("1"))
    return call


def key(call: Interpreter, keys: str) -> list[Action]:
    return [a for k in keys for a in call.handle(Digit(k))]


def test_a_keyed_number_is_requested_as_e164() -> None:
    call = callback_call()
    out = key(call, "2125550123#")  # read back: the digits as typed
    spoken = [a.text for a in out if isinstance(a, PlayPrompt)]
    assert spoken == ["You entered"] and not call.journey.outcome
    out = key(call, "1")  # confirmed, over the read-back
    assert RequestCallback("offer", "+12125550123", None) in out


def test_a_refused_keyed_number_is_asked_again_then_given_up() -> None:
    call = callback_call()
    out = key(call, "911#")
    assert not [a for a in out if isinstance(a, RequestCallback)]
    prompts = [a.text for a in out if isinstance(a, PlayPrompt)]
    assert prompts == ["Your number, then hash."]
    out = key(call, "900555012#")
    assert HangUp("menu") in out and call.journey.outcome == "hangup"
    assert not [a for a in out if isinstance(a, RequestCallback)]


def test_a_refused_form_number_is_ignored() -> None:
    call = callback_call()
    form = FormSubmitted("callback", {"number": "+1 900 555 0123"})
    assert call.handle(form) == []
    out = call.handle(FormSubmitted("callback", {"number": "(416) 555-0199"}))
    assert RequestCallback("offer", "+14165550199", None) in out
