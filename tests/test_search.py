"""FAQ search: the right entry first for what customers really type,
stemming, accents, prefixes as the customer types, and stable ties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.faq import FaqEntry, entries_from_yaml
from ivr.search import MAX_LIMIT, FaqIndex, fold, stem, terms

DEMO = Path(__file__).resolve().parent.parent / "ivr" / "demo_faq.yaml"


@pytest.fixture(scope="module")
def demo() -> FaqIndex:
    return FaqIndex(entries_from_yaml(DEMO.read_text(encoding="utf-8")))


def first(index: FaqIndex, query: str) -> str | None:
    hits = index.search(query, 5)
    return hits[0].entry.id if hits else None


# Queries as customers type them into the widget, each with the entry that
# answers it. Several share no word with the question of that entry.
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("when are you open", "faq-opening-hours"),
        ("opening hours on saturday", "faq-opening-hours"),
        ("are you open on sundays?", "faq-opening-hours"),
        ("can I pay with paypal", "faq-billing-payment-methods"),
        ("do you take american express", "faq-billing-payment-methods"),
        ("pay in instalments", "faq-billing-payment-methods"),
        ("I need a copy of my invoice", "faq-billing-invoice-copy"),
        ("download receipt pdf", "faq-billing-invoice-copy"),
        ("when will I get my money back", "faq-billing-refund-time"),
        ("how long for a refund", "faq-billing-refund-time"),
        ("I was charged twice", "faq-billing-double-charge"),
        ("double charge on my card", "faq-billing-double-charge"),
        ("how long does delivery take", "faq-shipping-times"),
        ("when will my fridge be delivered", "faq-shipping-times"),
        ("where is my parcel tracking", "faq-shipping-tracking"),
        ("track my order", "faq-shipping-tracking"),
        ("how much is shipping", "faq-shipping-costs"),
        ("is shipping free", "faq-shipping-costs"),
        ("my washer arrived damaged", "faq-shipping-damaged"),
        ("the oven came broken", "faq-shipping-damaged"),
        ("do you ship to canada", "faq-shipping-international"),
        ("what is the return policy", "faq-returns-policy"),
        ("can I return it after 30 days", "faq-returns-policy"),
        ("print a return label", "faq-returns-label"),
        ("swap for a different model", "faq-returns-exchange"),
        ("exchange my dishwasher", "faq-returns-exchange"),
        ("is it under warranty", "faq-repairs-warranty"),
        ("guarantee", "faq-repairs-warranty"),
        ("book a technician for a repair", "faq-repairs-booking"),
        ("my dryer has a fault", "faq-repairs-booking"),
        ("buy a new filter", "faq-repairs-spare-parts"),
        ("spare parts", "faq-repairs-spare-parts"),
        ("cancel my order", "faq-order-cancel"),
        ("cancellation", "faq-order-cancel"),
        ("can you install my new washer", "faq-installation"),
        ("take my old appliance away for recycling", "faq-installation"),
    ],
)
def test_the_right_entry_comes_first(demo: FaqIndex, query: str, expected: str) -> None:
    assert first(demo, query) == expected


@pytest.mark.parametrize(
    ("forms", "term"),
    [
        (["ship", "ships", "shipped", "shipping", "shipment", "shipments"], "ship"),
        (["return", "returns", "returned", "returning"], "return"),
        (["bill", "bills", "billed", "billing"], "bill"),
        (["charge", "charges", "charged", "charging"], "charg"),
        (["cancel", "cancels", "cancelled", "canceled", "cancellation"], "cancel"),
        (["deliver", "delivers", "delivered", "delivery", "deliveries"], "deliver"),
        (["pay", "pays", "paid", "payment", "payments"], "pay"),
        (["box", "boxes"], "box"),
        (["warranty", "warranties"], "warranty"[:-1]),
        (["address", "addresses"], "address"),
        (["install", "installed", "installing", "installation"], "instal"),
    ],
)
def test_forms_of_a_word_are_one_term(forms: list[str], term: str) -> None:
    assert {stem(f) for f in forms} == {term}


@pytest.mark.parametrize(
    ("word", "kept"),
    [("status", "status"), ("glass", "glass"), ("is", "is"), ("bus", "bus")],
)
def test_words_that_only_look_plural_keep_their_s(word: str, kept: str) -> None:
    assert stem(word) == kept


def test_stop_words_and_case_and_accents_are_folded() -> None:
    assert fold("Réparation ÉLECTRIQUE Straße") == "reparation electrique strasse"
    assert terms("How do I RETURN the Fridges?") == ["return", "fridg"]
    assert terms("the and of to") == []


def test_an_accented_query_finds_an_entry_without_accents() -> None:
    index = FaqIndex(
        [
            FaqEntry("cafe", "Do you sell cafe machines?", "Yes, espresso ones."),
            FaqEntry("tea", "Do you sell kettles?", "Yes, many kettles."),
        ]
    )
    assert first(index, "Café") == "cafe"
    assert first(index, "CAFÉS ") == "cafe"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("warr", "faq-repairs-warranty"),
        ("refu", "faq-billing-refund-time"),
        ("track my ord", "faq-shipping-tracking"),
        ("invo", "faq-billing-invoice-copy"),
        ("cancel my or", "faq-order-cancel"),
        ("paypa", "faq-billing-payment-methods"),
    ],
)
def test_the_last_word_matches_as_a_prefix_while_typing(
    demo: FaqIndex, typed: str, expected: str
) -> None:
    assert first(demo, typed) == expected


def test_a_finished_word_is_not_a_prefix(demo: FaqIndex) -> None:
    # "instal" as a word being typed reaches "installation"; followed by a
    # space it is a whole word, and the stem "instal" still matches.
    assert first(demo, "recyc") == "faq-installation"
    assert demo.search("recyc ", 5) == []


def test_a_one_letter_word_being_typed_expands_to_nothing(demo: FaqIndex) -> None:
    assert demo.search("r", 5) == []


def test_nothing_matches_gives_no_hits(demo: FaqIndex) -> None:
    assert demo.search("zebra xylophone ", 5) == []
    assert demo.search("", 5) == []
    assert demo.search("the and of ", 5) == []


def test_question_words_weigh_more_than_answer_words() -> None:
    index = FaqIndex(
        [
            FaqEntry("in-answer", "Anything else?", "We stock freezers and fridges."),
            FaqEntry("in-question", "Do you stock freezers?", "Yes, we do."),
        ]
    )
    assert [h.entry.id for h in index.search("freezers", 5)] == [
        "in-question",
        "in-answer",
    ]


def test_ties_are_ordered_by_id_whatever_the_input_order() -> None:
    entries = [
        FaqEntry(f"e-{i}", "Same question here?", "Same answer here.") for i in "dbca"
    ]
    forward = FaqIndex(entries).search("question", 5)
    backward = FaqIndex(list(reversed(entries))).search("question", 5)
    assert [h.entry.id for h in forward] == ["e-a", "e-b", "e-c", "e-d"]
    assert [h.entry.id for h in backward] == [h.entry.id for h in forward]
    assert len({h.score for h in forward}) == 1


def test_limit_cuts_the_list_best_first(demo: FaqIndex) -> None:
    full = demo.search("shipping", 10)
    assert [h.entry.id for h in demo.search("shipping", 2)] == [
        h.entry.id for h in full[:2]
    ]
    assert [h.score for h in full] == sorted((h.score for h in full), reverse=True)
    assert demo.search("shipping", 0) == []
    assert demo.search("shipping", -3) == []


def test_the_snippet_is_the_part_of_the_answer_around_the_match() -> None:
    answer = " ".join(f"w{i}" for i in range(60)) + " freezers are here " + "x " * 40
    index = FaqIndex([FaqEntry("long", "What about it?", answer.strip())])
    snippet = index.search("freezer", 1)[0].snippet
    assert "freezers" in snippet
    assert snippet.startswith("… w54")
    assert snippet.endswith(" …")
    assert len(snippet.split()) <= 24 + 2


def test_a_short_answer_is_its_own_snippet(demo: FaqIndex) -> None:
    hit = demo.search("cancel", 1)[0]
    assert hit.snippet in hit.entry.answer or hit.snippet.endswith("…")
    assert hit.snippet.startswith("You can cancel")


@given(text=st.text(max_size=300), limit=st.integers(min_value=-5, max_value=100))
def test_search_never_raises_and_keeps_to_the_limit(text: str, limit: int) -> None:
    index = _PROPERTY_INDEX
    hits = index.search(text, limit)
    assert len(hits) <= max(0, min(limit, MAX_LIMIT))
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


_PROPERTY_INDEX = FaqIndex(
    entries_from_yaml(DEMO.read_text(encoding="utf-8"))
    + [FaqEntry("unicode", "Où est la boîte ? 日本 😀", "Ça va ١٢٣ ß ﬁ", ("ǅ",))]
)
