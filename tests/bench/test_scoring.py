"""Each matching rule of the tool-calling scorer, tested with the shapes real models give:
explicit defaults, nulls, "City, Country", trailing slashes, IANA aliases, reordered lists,
capitalised text with a full stop, inputs fetched one per turn."""

import pytest

from agenttree.bench.scoring import (
    AnyOf,
    Call,
    Judged,
    call_credit,
    call_failures,
    score_case,
)
from agenttree.bench.suites import SuiteError, load_suite
from agenttree.bench.toolcalls import expected_call

from .helpers import TOOL_CALLING

TOOLS = load_suite(TOOL_CALLING).tools


def want(tool, **args):
    """An expected call as a case file would write it, judged by the suite's tool rules."""
    return expected_call("test", {"tool": tool, "args": args}, TOOLS)


def got(tool, **args):
    return Call(tool=tool, args=args)


def failures(expected, actual):
    return call_failures(expected, actual)


# --- per-parameter answers: defaults, nulls, "left out" ---------------------------------------


@pytest.mark.parametrize("actual", [
    got("weather", city="Tokyo", unit="celsius"),  # explicit default (GPT-4o, Qwen)
    got("weather", city="Tokyo", unit="Celsius"),
    got("weather", city="Tokyo", unit=None),  # null for an optional parameter (Llama)
    got("weather", city="Tokyo"),
])
def test_an_optional_parameter_may_be_sent_with_its_default_null_or_left_out(actual):
    assert failures(want("weather", city="Tokyo"), actual) == []


@pytest.mark.parametrize(("tool", "args", "extra"), [
    ("search_docs", {"query": "webhooks"}, {"limit": 3}),
    ("list_files", {"folder": "src"}, {"recursive": False}),
    ("sort_numbers", {"numbers": [3, 1]}, {"descending": False}),
    ("create_event", {"title": "Dentist", "date": "2025-05-20"}, {"duration_minutes": 60}),
    ("get_forecast", {"city": "Rome"}, {"days": 3}),
    ("find_restaurants", {"city": "Rome"}, {"max_results": 5, "cuisine": None}),
])
def test_explicit_defaults_of_every_tool_are_right(tool, args, extra):
    assert failures(want(tool, **args), got(tool, **args, **extra)) == []


def test_an_optional_parameter_the_case_did_not_ask_for_with_another_value_is_unexpected():
    expected = want("weather", city="Tokyo")
    assert failures(expected, got("weather", city="Tokyo", unit="fahrenheit")) == \
        ["unexpected-arg"]
    assert failures(want("search_docs", query="webhooks"),
                    got("search_docs", query="webhooks", limit=10)) == ["unexpected-arg"]
    assert failures(want("find_restaurants", city="Rome"),
                    got("find_restaurants", city="Rome", cuisine="thai")) == ["unexpected-arg"]


def test_a_parameter_the_tool_does_not_have_is_unexpected():
    assert failures(want("mul", a=6, b=7), got("mul", a=6, b=7, c=1)) == ["unexpected-arg"]


def test_a_default_the_case_asks_for_may_be_left_out():
    assert failures(want("get_forecast", city="Lima", days=3), got("get_forecast",
                                                                   city="Lima")) == []
    assert failures(want("sort_numbers", numbers=[42, 7], descending=False),
                    got("sort_numbers", numbers=[42, 7])) == []
    assert failures(want("get_forecast", city="Lima", days=5),
                    got("get_forecast", city="Lima")) == ["missing-arg"]


def test_nil_in_an_answer_set_means_left_out_is_right():
    expected = want("search_docs", query="webhooks", limit=AnyOf((2, None)))
    assert failures(expected, got("search_docs", query="webhooks")) == []
    assert failures(expected, got("search_docs", query="webhooks", limit=2)) == []
    assert failures(expected, got("search_docs", query="webhooks", limit=4)) == ["wrong-value"]


def test_a_required_parameter_cannot_be_left_out_or_null():
    assert failures(want("mul", a=6, b=7), got("mul", a=6)) == ["missing-arg"]
    assert failures(want("mul", a=6, b=7), got("mul", a=6, b=None)) == ["missing-arg"]
    with pytest.raises(SuiteError, match="a required parameter cannot be left out"):
        want("mul", a=6, b=AnyOf((7, None)))


# --- values: numbers, text, places, paths, time zones, unordered lists -------------------------


@pytest.mark.parametrize(("tool", "expected", "actual", "found"), [
    ("mul", {"a": 6, "b": 7}, {"a": 6.0, "b": 7}, None),
    ("mul", {"a": 6, "b": 7}, {"a": "6", "b": 7}, "wrong-type"),  # never coerced
    ("mul", {"a": 6, "b": 7}, {"a": True, "b": 7}, "wrong-type"),
    ("add", {"a": 0.1, "b": 0.2}, {"a": 0.1 + 1e-12, "b": 0.2}, None),
    ("mul", {"a": 6, "b": 7}, {"a": 6, "b": 8}, "wrong-value"),
])
def test_numbers_compare_by_value_and_type(tool, expected, actual, found):
    assert failures(want(tool, **expected), got(tool, **actual)) == ([found] if found else [])


@pytest.mark.parametrize(("case_text", "model_text", "right"), [
    ("call mom", "Call mom.", True),
    ("call mom", "  CALL   MOM  ", True),
    ("Noon at the usual place?", "Noon at the usual place", True),
    ("to be or not to be", "To be, or not to be.", True),
    ("the rain in Spain", "“the rain in Spain”", True),
    ("call mom", "call dad", False),
    ("to be or not to be", "to be or not", False),
])
def test_text_ignores_case_white_space_and_punctuation(case_text, model_text, right):
    found = failures(want("create_reminder", text=case_text, minutes=30),
                     got("create_reminder", text=model_text, minutes=30))
    assert found == ([] if right else ["wrong-value"])


@pytest.mark.parametrize(("model_city", "right"), [
    ("Tokyo", True), ("Tokyo, Japan", True), ("tokyo,japan", True), (" Tokyo ", True),
    ("Kyoto, Japan", False), ("Japan", False),
])
def test_a_place_is_its_name_before_the_first_comma(model_city, right):
    found = failures(want("weather", city="Tokyo"), got("weather", city=model_city))
    assert found == ([] if right else ["wrong-value"])


def test_every_city_is_judged_alike_paris_and_tokyo():
    for city in ("Paris", "Tokyo"):
        assert failures(want("weather", city=city),
                        got("weather", city=f"{city}, Somewhere")) == []


@pytest.mark.parametrize(("model_folder", "right"), [
    ("src", True), ("src/", True), ("./src", True), ("./src/", True), (" src// ", True),
    ("SRC", False), ("src/models", False), ("/src", False),
])
def test_a_path_ignores_a_leading_dot_slash_and_trailing_slashes(model_folder, right):
    found = failures(want("list_files", folder="src"), got("list_files", folder=model_folder))
    assert found == ([] if right else ["wrong-value"])


@pytest.mark.parametrize(("case_zone", "model_zone", "right"), [
    ("UTC", "Etc/UTC", True), ("UTC", "Zulu", True), ("UTC", "utc", True),
    ("America/New_York", "US/Eastern", True), ("Asia/Kolkata", "Asia/Calcutta", True),
    ("Asia/Tokyo", "Japan", True), ("Europe/Kyiv", "Europe/Kiev", True),
    ("UTC", "GMT", False),
    # tzdata 2022b+ links Oslo to Berlin, which is not an alias but another country's zone.
    ("Europe/Oslo", "Europe/Berlin", False),
    ("Europe/Oslo", "Oslo", False),
])
def test_a_time_zone_is_its_iana_zone_whatever_alias_names_it(case_zone, model_zone, right):
    found = failures(want("get_time", timezone=case_zone), got("get_time", timezone=model_zone))
    assert found == ([] if right else ["wrong-value"])


@pytest.mark.parametrize(("model_list", "found"), [
    (["bo@example.com", "ana@example.com"], None),
    (["ANA@example.com", "bo@example.com"], None),
    (["ana@example.com"], "wrong-value"),
    (["ana@example.com", "ana@example.com"], "wrong-value"),
    (["ana@example.com", "cy@example.com"], "wrong-value"),
    ("ana@example.com, bo@example.com", "wrong-type"),
])
def test_an_unordered_list_matches_in_any_order(model_list, found):
    expected = want("create_event", title="Review", date="2025-04-02",
                    attendees=["ana@example.com", "bo@example.com"])
    actual = got("create_event", title="Review", date="2025-04-02", attendees=model_list)
    assert failures(expected, actual) == ([found] if found else [])


def test_sort_numbers_takes_its_numbers_in_any_order():
    expected = want("sort_numbers", numbers=[3, 11, 7], descending=True)
    assert failures(expected, got("sort_numbers", numbers=[11, 7, 3], descending=True)) == []
    assert failures(expected, got("sort_numbers", numbers=[11, 7], descending=True)) == \
        ["wrong-value"]


def test_call_failures_name_each_problem():
    expected = want("mul", a=6, b=7)
    assert failures(expected, got("add", a=6, b=7)) == ["wrong-function"]
    assert failures(expected, got("mul", a="6", b=8)) == ["wrong-type", "wrong-value"]
    assert failures(expected, Call(tool="mul", args='{"a": 6, "b":')) == ["unparseable-call"]


def test_credit_is_half_for_the_name_and_half_shared_by_the_arguments_asked_for():
    expected = want("mul", a=6, b=7)
    assert call_credit(expected, got("mul", a=6, b=7)) == 1.0
    assert call_credit(expected, got("mul", a=6, b=0)) == 0.75
    assert call_credit(expected, got("mul")) == 0.5
    assert call_credit(expected, got("mul", a=6, b=7, z=1)) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert call_credit(expected, got("add", a=6, b=7)) == 0.0
    weather = want("weather", city="Oslo")
    assert call_credit(weather, got("weather", city="Oslo, Norway", unit="celsius")) == 1.0
    assert call_credit(weather, got("weather", city="Oslo", unit="kelvin")) == 0.75


# --- whole cases: turns, parallel calls, dependency order, answers, refusals -----------------


def case(*turns, by_dependency=False, answer=(), ask=()):
    return Judged(expect=tuple(tuple(t) for t in turns), by_dependency=by_dependency,
                  answer=tuple(answer), ask=tuple(ask))


def test_parallel_calls_match_in_any_order():
    expected = case([want("weather", city="Oslo"), want("weather", city="Cairo")])
    scored = score_case(expected, [[got("weather", city="Cairo, Egypt", unit="celsius"),
                                    got("weather", city="Oslo")]], "")
    assert scored.exact and scored.soft == 1.0 and scored.failures == ()


def test_a_parallel_case_wants_its_calls_in_one_turn():
    expected = case([want("weather", city="Oslo"), want("weather", city="Cairo")])
    split = score_case(expected, [[got("weather", city="Oslo")], [got("weather", city="Cairo")]],
                       "")
    assert split.failures == ("extra-call", "parallel-unmatched")
    short = score_case(expected, [[got("weather", city="Oslo")]], "")
    assert short.failures == ("parallel-unmatched",) and short.soft == 0.5


TEMPERATURE_DIFFERENCE = case([want("weather", city="Cairo"), want("weather", city="Berlin")],
                              [want("sub", a=29, b=9)], by_dependency=True, answer=[20])


@pytest.mark.parametrize("turns", [
    # both inputs together, as the case file lists them
    [[got("weather", city="Cairo"), got("weather", city="Berlin")], [got("sub", a=29, b=9)]],
    # one input per turn (GPT-4o-mini, Qwen, Llama often do this)
    [[got("weather", city="Cairo, Egypt")], [got("weather", city="Berlin, Germany")],
     [got("sub", a=29, b=9)]],
    [[got("weather", city="Berlin")], [got("weather", city="Cairo")], [got("sub", a=29, b=9)]],
])
def test_multi_turn_is_judged_by_dependency_order_not_by_turn_partition(turns):
    scored = score_case(TEMPERATURE_DIFFERENCE, turns, "Cairo is 20 degrees warmer.")
    assert scored.exact and scored.soft == 1.0


def test_a_call_that_could_not_know_its_input_yet_is_wrong_order():
    guessed = [[got("weather", city="Cairo"), got("weather", city="Berlin"),
                got("sub", a=29, b=9)]]
    scored = score_case(TEMPERATURE_DIFFERENCE, guessed, "The difference is 20.")
    assert scored.failures == ("wrong-order",) and not scored.exact
    backwards = [[got("sub", a=29, b=9)], [got("weather", city="Cairo")],
                 [got("weather", city="Berlin")]]
    assert score_case(TEMPERATURE_DIFFERENCE, backwards, "20").failures == ("wrong-order",)


def test_multi_turn_missing_and_extra_calls():
    missing = score_case(TEMPERATURE_DIFFERENCE, [[got("weather", city="Cairo")],
                                                  [got("sub", a=29, b=9)]], "20")
    assert missing.failures == ("no-call",)
    extra = score_case(TEMPERATURE_DIFFERENCE, [
        [got("weather", city="Cairo"), got("weather", city="Berlin")],
        [got("weather", city="Lima")], [got("sub", a=29, b=9)]], "20")
    assert extra.failures == ("extra-call",)
    assert extra.soft == pytest.approx((3 + 1) / (4 + 1))


@pytest.mark.parametrize(("reply", "right"), [
    ("The difference is 20 °C.", True), ("Cairo (29) minus Berlin (9) = 20", True),
    ("It is 20.0 degrees warmer in Cairo.", True), ("The result is 21.", False),
    ("Done.", False), ("", False),
])
def test_the_final_reply_must_state_the_answer(reply, right):
    turns = [[got("weather", city="Cairo"), got("weather", city="Berlin")],
             [got("sub", a=29, b=9)]]
    scored = score_case(TEMPERATURE_DIFFERENCE, turns, reply)
    assert scored.exact == right
    if not right:
        assert scored.failures == ("wrong-answer",) and scored.soft == pytest.approx(3 / 4)


@pytest.mark.parametrize("reply", ["Norway now has 5,000,000 people.", "about 5 million",
                                   "5000000", "5.0 million"])
def test_numbers_in_a_reply_are_read_however_they_are_written(reply):
    judged = case([want("population", country="Norway")],
                  [want("sub", a=5500000, b=500000)], by_dependency=True, answer=[5000000])
    turns = [[got("population", country="Norway")], [got("sub", a=5500000, b=500000)]]
    assert score_case(judged, turns, reply).exact


def test_a_text_answer_is_found_in_the_reply_as_text():
    judged = case([want("get_doc", id="doc-17")], [want("mul", a=1, b=1)], by_dependency=True,
                  answer=["Retry-After", "429"])
    turns = [[got("get_doc", id="doc-17")], [got("mul", a=1, b=1)]]
    assert score_case(judged, turns, "Wait for the retry after header.").exact
    assert not score_case(judged, turns, "It is about limits.").exact


def test_turns_match_in_order_outside_multi_turn_cases():
    judged = case([want("add", a=2, b=3)], [want("mul", a=5, b=4)])
    assert score_case(judged, [[got("add", a=2, b=3)], [got("mul", a=5, b=4)]], "").exact
    swapped = score_case(judged, [[got("mul", a=5, b=4)], [got("add", a=2, b=3)]], "")
    assert swapped.failures == ("wrong-function",) and swapped.soft == 0.0


def test_no_call_at_all():
    scored = score_case(case([want("mul", a=1, b=2)]), [], "It is 2.")
    assert scored.failures == ("no-call",) and scored.soft == 0.0


def test_irrelevance_refusal_and_calls():
    assert score_case(case(), [], "Rome is the capital of Italy.").exact
    called = score_case(case(), [[got("weather", city="Rome")]], "")
    assert called.failures == ("called-when-should-not",) and called.soft == 0.0


def test_an_unparseable_call_is_never_a_correct_refusal():
    scored = score_case(case(), [[Call(tool="mul", args="{not json")]], "")
    assert not scored.exact and scored.soft == 0.0 and scored.failures == ("unparseable-call",)


@pytest.mark.parametrize(("reply", "found", "soft"), [
    ("Sure! Which city do you mean?", (), 1.0),
    ("Where are you? I can look it up.", (), 1.0),
    ("I need your LOCATION first.", (), 1.0),
    ("It is sunny.", ("did-not-ask",), 0.5),
])
def test_missing_information_asks_the_user(reply, found, soft):
    judged = case(ask=["city", "where", "location"])
    scored = score_case(judged, [], reply)
    assert scored.failures == found and scored.soft == soft


def test_missing_information_guessed_is_a_call_that_should_not_be():
    judged = case(ask=["city"])
    scored = score_case(judged, [[got("weather", city="New York")]], "Sunny in New York.")
    assert scored.failures == ("called-when-should-not",) and scored.soft == 0.0


def test_large_parallel_turns_use_the_greedy_pairing():
    expected = case([want("population", country=f"c{i}") for i in range(9)])
    actual = [[got("population", country=f"C{i}.") for i in reversed(range(9))]]
    assert score_case(expected, actual, "").exact
