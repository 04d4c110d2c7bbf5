"""Tool calls in model output: parsing, the streaming hold-back filter, forced-choice schemas."""

from __future__ import annotations

import json

import pytest

from domain.tool_calls import (
    ToolCallFilter,
    call_from_object,
    forced_call_schema,
    parse_bare_calls,
    split_tool_calls,
)
from workers.chat_jobs import forced_tool_grammar
from workflows.jobs import JobInputError

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]
NAMES = {"get_weather", "get_time"}
PARIS = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def feed_in_pieces(
    text: str, size: int, allowed: set[str] | None = NAMES
) -> tuple[list[str], ToolCallFilter]:
    splitter = ToolCallFilter(allowed)
    out = [splitter.feed(text[i : i + size]) for i in range(0, len(text), size)]
    out.append(splitter.finish())
    return out, splitter


# --- parsing ---------------------------------------------------------------------------------


def test_a_tool_call_block_is_parsed_and_removed_from_the_content() -> None:
    text = f"Let me look that up.\n<tool_call>\n{PARIS}\n</tool_call>"
    content, calls = split_tool_calls(text, NAMES)
    assert content == "Let me look that up."
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_")
    assert calls[0].to_openai() == {
        "id": calls[0].id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }


def test_several_blocks_give_several_calls_and_the_text_between_them() -> None:
    text = (
        f'<tool_call>\n{PARIS}\n</tool_call>\nand\n<tool_call>\n{{"name": "get_time", "arguments": {{}}}}\n'
        "</tool_call>\n"
    )
    content, calls = split_tool_calls(text, NAMES)
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert content == "and"
    assert len({c.id for c in calls}) == 2


def test_an_unterminated_block_at_the_end_is_still_a_call() -> None:
    content, calls = split_tool_calls(f"<tool_call>\n{PARIS}\n", NAMES)
    assert content == ""
    assert [c.name for c in calls] == ["get_weather"]


@pytest.mark.parametrize(
    "text",
    [
        PARIS,
        f"  {PARIS}\n",
        f"```json\n{PARIS}\n```",
        f"```\n{PARIS}\n```",
        f"[{PARIS}]",
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    ],
)
def test_a_bare_json_answer_is_a_call(text: str) -> None:
    content, calls = split_tool_calls(text, NAMES)
    assert content == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]


def test_two_bare_json_objects_are_two_calls() -> None:
    calls = parse_bare_calls(f'{PARIS}\n{{"name": "get_time", "arguments": {{}}}}', NAMES)
    assert calls is not None
    assert [c.name for c in calls] == ["get_weather", "get_time"]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>',  # broken JSON
        '<tool_call>\n{"name": "launch_rockets", "arguments": {}}\n</tool_call>',  # not offered
        '<tool_call>\n{"arguments": {"city": "Paris"}}\n</tool_call>',  # no name
        '<tool_call>\n{"name": "get_weather", "arguments": [1, 2]}\n</tool_call>',  # not an object
        '{"name": "get_weather", "arguments": {"city": "Paris"}} is what I would send.',
        '{"a": 1}',
        '{"name": "get_weather", "arguments": "not json"}',
        '```json\n{"name": "get_weather"\n```',
    ],
)
def test_malformed_calls_stay_content(text: str) -> None:
    content, calls = split_tool_calls(text, NAMES)
    assert calls == []
    assert content == text


def test_any_name_is_accepted_when_no_tools_are_named() -> None:
    call = call_from_object({"name": "anything", "arguments": {}}, None)
    assert call is not None
    assert call.name == "anything"
    assert call_from_object({"name": "anything", "arguments": {}}, {"other"}) is None


# --- the streaming filter ----------------------------------------------------------------------


def test_plain_text_streams_as_it_comes_and_adds_up_exactly() -> None:
    splitter = ToolCallFilter(NAMES)
    assert splitter.feed("Hello") == "Hello"
    assert splitter.feed(" world,") == " world,"
    assert splitter.feed(" ") == ""  # trailing space waits: a call may follow
    assert splitter.feed("bye.\n") == " bye."
    assert splitter.finish() == "\n"  # no call came: the text is kept exactly
    assert splitter.content == "Hello world, bye.\n"
    assert splitter.tool_calls == []


def test_a_partial_tag_is_held_back_until_it_is_decided() -> None:
    splitter = ToolCallFilter(NAMES)
    assert splitter.feed("a <tool") == "a"
    assert splitter.feed("box> b") == " <toolbox> b"
    assert splitter.finish() == ""


def test_a_bare_json_answer_is_held_to_the_end() -> None:
    splitter = ToolCallFilter(NAMES)
    for piece in ('{"name": ', '"get_weather", ', '"arguments": {"city": "Paris"}}'):
        assert splitter.feed(piece) == ""
    assert splitter.finish() == ""
    assert [c.name for c in splitter.tool_calls] == ["get_weather"]


def test_json_that_is_not_a_call_comes_out_at_the_end() -> None:
    splitter = ToolCallFilter(NAMES)
    assert splitter.feed('{"a": ') == ""
    assert splitter.feed("1}") == ""
    assert splitter.finish() == '{"a": 1}'
    assert splitter.tool_calls == []


def test_a_code_answer_is_released_once_it_cannot_be_a_call() -> None:
    splitter = ToolCallFilter(NAMES)
    assert splitter.feed("``") == ""
    assert splitter.feed("`py") == "```py"
    assert splitter.feed("thon\nprint(1)") == "thon\nprint(1)"


@pytest.mark.parametrize(
    "text",
    [
        "Plain answer with <b>tags</b> and a < sign.",
        f"Checking.\n<tool_call>\n{PARIS}\n</tool_call>",
        f"<tool_call>\n{PARIS}\n</tool_call>\nDone. <tool_call>\nbroken</tool_call> end",
        f"```json\n{PARIS}\n```",
        "```python\nprint('hi')\n```\n",
        '{"a": 1} and more',
    ],
)
def test_streamed_pieces_never_show_a_call_and_add_up_to_the_content(text: str) -> None:
    expected_content, expected_calls = split_tool_calls(text, NAMES)
    for size in range(1, len(text) + 1):
        pieces, splitter = feed_in_pieces(text, size)
        assert "".join(pieces) == expected_content == splitter.content
        assert [c.name for c in splitter.tool_calls] == [c.name for c in expected_calls]
        for call in expected_calls:
            assert call.arguments not in "".join(pieces)


def test_text_before_a_call_is_shown_while_the_call_is_still_coming() -> None:
    pieces, splitter = feed_in_pieces(f"Checking the weather. <tool_call>\n{PARIS}\n</tool_call>", 8)
    shown = "".join(pieces[:4])
    assert shown.startswith("Checking the weather")
    assert "<" not in "".join(pieces)
    assert splitter.content == "Checking the weather."


# --- forced tool choice ------------------------------------------------------------------------


def test_a_named_choice_forces_one_call_to_that_tool() -> None:
    schema = forced_call_schema(TOOLS, {"type": "function", "function": {"name": "get_weather"}})
    assert schema == {
        "type": "object",
        "properties": {
            "name": {"const": "get_weather"},
            "arguments": TOOLS[0]["function"]["parameters"],
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def test_required_allows_any_offered_tool() -> None:
    schema = forced_call_schema(TOOLS, "required")
    assert schema is not None
    names = [alternative["properties"]["name"]["const"] for alternative in schema["anyOf"]]
    assert names == ["get_weather", "get_time"]
    # A tool without parameters still takes an arguments object.
    assert schema["anyOf"][1]["properties"]["arguments"] == {"type": "object"}


def test_auto_and_none_force_nothing_and_an_unknown_name_is_refused() -> None:
    assert forced_call_schema(TOOLS, "auto") is None
    assert forced_call_schema(TOOLS, "none") is None
    with pytest.raises(ValueError, match="matches none"):
        forced_call_schema(TOOLS, {"type": "function", "function": {"name": "nope"}})


def test_the_forced_grammar_is_valid_gbnf_for_the_call() -> None:
    from llama_cpp import LlamaGrammar

    grammar = forced_tool_grammar(TOOLS, {"type": "function", "function": {"name": "get_weather"}})
    assert grammar is not None
    assert '"\\"get_weather\\""' in grammar
    assert '"\\"city\\""' in grammar
    assert "get_time" not in grammar
    LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp parses it
    assert forced_tool_grammar(TOOLS, "auto") is None


def test_a_forced_choice_without_its_tool_fails_the_job_as_bad_input() -> None:
    with pytest.raises(JobInputError) as raised:
        forced_tool_grammar([], "required")
    assert raised.value.param == "tool_choice"


BOOKING = {
    "type": "function",
    "function": {
        "name": "book",
        # What pydantic (and openai.pydantic_function_tool) generate: local definitions and refs.
        "parameters": {
            "type": "object",
            "properties": {"when": {"$ref": "#/$defs/Slot"}},
            "required": ["when"],
            "$defs": {
                "Slot": {
                    "type": "object",
                    "properties": {"day": {"$ref": "#/$defs/Day"}},
                    "required": ["day"],
                },
                "Day": {"type": "string", "enum": ["monday", "tuesday"]},
            },
        },
    },
}


def test_local_definitions_move_to_the_root_of_the_call_schema() -> None:
    schema = forced_call_schema([BOOKING, TOOLS[0]], "required")
    assert schema is not None
    assert set(schema["$defs"]) == {"book-Slot", "book-Day"}
    assert schema["$defs"]["book-Slot"]["properties"]["day"] == {"$ref": "#/$defs/book-Day"}
    arguments = schema["anyOf"][0]["properties"]["arguments"]
    assert arguments["properties"]["when"] == {"$ref": "#/$defs/book-Slot"}
    assert "$defs" not in arguments
    grammar = forced_tool_grammar([BOOKING, TOOLS[0]], "required")
    assert grammar is not None
    assert '"\\"monday\\""' in grammar


def test_a_schema_the_grammar_cannot_express_fails_the_job_as_bad_input() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "odd",
            "parameters": {"type": "object", "properties": {"x": {"type": "quaternion"}}},
        },
    }
    with pytest.raises(JobInputError) as raised:
        forced_tool_grammar([tool], "required")
    assert raised.value.param == "tools"
