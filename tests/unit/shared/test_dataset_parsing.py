"""Format checks, line numbers and whole-file refusals, on in-memory streams (no I/O)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from shared.datasets import (
    DatasetFileRejected,
    DatasetLimits,
    LineRejected,
    Rejection,
    example_from_text,
    parse_upload,
)
from shared.domain.examples import Example


def chat(user: str = "hi", answer: str = "hello", system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def run(data: bytes, name: str = "data.jsonl", **kwargs) -> tuple[list[Example], list[Rejection]]:
    examples, rejections = [], []
    for item in parse_upload(io.BytesIO(data), name, **kwargs):
        (rejections if isinstance(item, Rejection) else examples).append(item)
    return examples, rejections


def jsonl(*lines: object) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()


def test_chat_lines_become_examples_with_origin():
    examples, rejections = run(
        jsonl(chat("a", "b", system="s"), chat("c", "d")), positive=False, added_by="u1"
    )
    assert rejections == []
    assert [e.answer for e in examples] == ["b", "d"]
    assert examples[0].messages[0].role == "system"
    assert examples[1].origin == "data.jsonl:2"
    assert all(e.positive is False and e.added_by == "u1" and e.source == "file" for e in examples)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"nope": 1}, "missing messages list"),
        ({"messages": []}, "missing messages list"),
        ({"messages": [{"role": "user", "content": "q"}]}, "no assistant message"),
        ({"messages": [{"role": "wizard", "content": "q"}]}, "message 1 has an unknown role 'wizard'"),
        ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}, "message 1 has no content"),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]},
            "content must be",
        ),
        (
            {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]},
            "empty content",
        ),
        ({"messages": [{"role": "user", "content": "q", "color": 1}]}, "unsupported key 'color'"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "no user message"),
        ({"messages": chat()["messages"], "tools": []}, "tools and functions are not supported"),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]},
            "tool and function",
        ),
        ('{"messages": [{"role": "user", "content": "q", "role": "assistant"}]}', "duplicate key 'role'"),
        ('{"messages": [{"role": "user", "content": NaN}, {"role": "assistant", "content": "a"}]}', "NaN"),
        ('{"messages": [{"role": "user", "content": "q"}], "x": Infinity}', "Infinity"),
        ("{not json", "not valid JSON"),
        ("[" * 5000, "JSON"),
        ('"just a string"', "must be a JSON object"),
    ],
)
def test_bad_lines_are_rejected_with_reason_and_line_number(line, reason):
    examples, rejections = run(jsonl(chat(), line, chat("x", "y")))
    assert len(examples) == 2
    assert len(rejections) == 1
    assert rejections[0].line == 2
    assert reason in rejections[0].reason


def test_duplicate_key_hidden_behind_a_valid_last_value_is_caught():
    # Both spellings parse to a valid line; only the raw text shows the ambiguity.
    answer = '{"role": "assistant", "content": "c"}'
    line = '{"messages": [{"role": "user", "content": "a", "content": "b"}, ' + answer + "]}"
    _, rejections = run(line.encode())
    assert rejections[0].reason == "duplicate key 'content'"
    escaped = '{"messages": [{"role": "user", "\\u0063ontent": "a", "content": "b"}, ' + answer + "]}"
    _, rejections = run(escaped.encode())
    assert rejections[0].reason == "duplicate key 'content'"


def test_values_that_spell_key_names_are_not_duplicates():
    line = json.dumps(chat('say "role"', "role"))
    examples, rejections = run(line.encode())
    assert rejections == [] and examples[0].answer == "role"


def test_non_utf8_line_is_rejected_alone():
    data = jsonl(chat()).rstrip() + b"\n" + b'{"messages": "\xff\xfe"}\n' + jsonl(chat("q", "a"))
    examples, rejections = run(data)
    assert len(examples) == 2
    assert rejections == [Rejection(2, "not UTF-8 text")]


def test_over_long_line_is_skipped_without_losing_the_next():
    limits = DatasetLimits(max_line_bytes=200)
    data = jsonl(chat(), chat("q" * 1000, "a"), chat("after", "ok"))
    examples, rejections = run(data, limits=limits)
    assert [e.answer for e in examples] == ["hello", "ok"]
    assert rejections[0].line == 2 and "longer than" in rejections[0].reason


def test_file_over_the_cap_is_refused():
    with pytest.raises(DatasetFileRejected):
        run(jsonl(*[chat(str(i), "a") for i in range(100)]), limits=DatasetLimits(max_file_bytes=1000))


def test_json_array_file_gets_a_hint():
    with pytest.raises(DatasetFileRejected, match="one JSON object per line"):
        run(json.dumps([chat()]).encode(), name="data.json")


def test_preference_lines():
    line = {
        "input": {"messages": [{"role": "user", "content": "capital of France?"}]},
        "preferred_output": [{"role": "assistant", "content": "Paris"}],
        "non_preferred_output": [{"role": "assistant", "content": "Lyon"}],
    }
    bad = dict(line, non_preferred_output=[{"role": "user", "content": "Lyon"}])
    missing = {k: v for k, v in line.items() if k != "non_preferred_output"}
    examples, rejections = run(jsonl(line, bad, missing))
    assert examples[0].answer == "Paris" and examples[0].rejected == "Lyon" and examples[0].is_preference_pair
    assert [(r.line, r.reason) for r in rejections] == [
        (2, "non_preferred_output must hold an assistant message"),
        (3, "missing non_preferred_output"),
    ]


def test_prompt_completion_lines():
    examples, rejections = run(jsonl({"prompt": "2+2", "completion": "4"}, {"prompt": "x"}))
    assert examples[0].messages[0].content == "2+2" and examples[0].answer == "4"
    assert rejections[0].reason == "missing completion"


def test_csv_rows_with_line_numbers():
    data = b'\xef\xbb\xbfPrompt,completion,system\nhi,hello,\n"multi\nline",ok,be brief\n,empty,\nq,a\n'
    examples, rejections = run(data, name="d.csv")
    assert [e.answer for e in examples] == ["hello", "ok"]
    assert examples[1].messages[0].content == "be brief"
    assert examples[1].messages[1].content == "multi\nline"
    assert [(r.line, r.reason) for r in rejections] == [
        (5, "empty prompt"),
        (6, "expected 3 columns, found 2"),
    ]


def test_csv_missing_columns_are_named():
    with pytest.raises(DatasetFileRejected) as err:
        run(b"question,completion\nq,a\n", name="d.csv")
    assert "missing: prompt" in err.value.user_message
    with pytest.raises(DatasetFileRejected, match="missing: prompt, completion"):
        run(b"a,b\n1,2\n", name="d.csv")


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_members_are_read_with_member_names_in_reasons():
    data = zip_bytes(
        {
            "a.jsonl": jsonl(chat("1", "a"), "{bad"),
            "dir/b.csv": b"prompt,completion\nq,a\n",
            "notes.md": b"hello",
            "__MACOSX/._a.jsonl": b"junk",
        }
    )
    examples, rejections = run(data, name="upload.zip")
    assert [e.answer for e in examples] == ["a", "a"]
    assert examples[1].messages[0].content == "q"
    assert Rejection(2, rejections[0].reason, "a.jsonl") == rejections[0]
    assert rejections[1].member == "notes.md" and "not a .jsonl" in rejections[1].reason


def test_zip_bomb_by_ratio_is_refused():
    data = zip_bytes({"bomb.jsonl": b"\n" * (20 * 1024 * 1024)})
    assert len(data) < 100_000
    with pytest.raises(DatasetFileRejected, match="zip bomb"):
        run(data, name="x.zip")


def test_zip_with_too_many_members_is_refused_before_reading():
    data = zip_bytes({f"{i}.jsonl": b"" for i in range(60)})
    with pytest.raises(DatasetFileRejected, match="too many files"):
        run(data, name="x.zip")


def test_zip_over_total_uncompressed_size_is_refused():
    member = jsonl(*[chat(str(i), "a" * 100) for i in range(400)])
    limits = DatasetLimits(max_zip_total_bytes=len(member) * 2)
    with pytest.raises(DatasetFileRejected, match="uncompressed"):
        run(zip_bytes({"a.jsonl": member, "b.jsonl": member, "c.jsonl": member}), name="x.zip", limits=limits)


def test_nested_zip_is_refused_by_name_and_by_content():
    inner = zip_bytes({"a.jsonl": jsonl(chat())})
    with pytest.raises(DatasetFileRejected, match="inside the zip"):
        run(zip_bytes({"inner.zip": inner}), name="x.zip")
    with pytest.raises(DatasetFileRejected, match="inside the zip"):
        run(zip_bytes({"sneaky.jsonl": inner}, compression=zipfile.ZIP_STORED), name="x.zip")


def test_damaged_zip_is_refused():
    with pytest.raises(DatasetFileRejected, match="damaged"):
        run(b"PK\x03\x04" + b"\0" * 100, name="x.zip")


def test_unknown_file_type_is_refused():
    with pytest.raises(DatasetFileRejected, match=r"\.jsonl"):
        run(b"just some words", name="notes.txt")


@pytest.mark.parametrize(
    ("text", "roles", "answer"),
    [
        ("Q: What is 2+2? A: 4", ["user", "assistant"], "4"),
        (
            "System: be brief Q: hi A: hello Q: more? A: no",
            ["system", "user", "assistant", "user", "assistant"],
            "no",
        ),
        ("user: plan \\A: the first? assistant: yes", ["user", "assistant"], "yes"),
        ('{"prompt": "p", "completion": "c"}', ["user", "assistant"], "c"),
    ],
)
def test_text_syntax(text, roles, answer):
    example = example_from_text(text, added_by="u")
    assert [m.role for m in example.messages] == roles
    assert example.answer == answer and example.source == "text"
    if "\\A:" in text:
        assert example.messages[0].content == "plan A: the first?"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("just words", "no Q: and A: markers"),
        ("Q: only a question", "must end with an answer"),
        ("A: answer first", "expected Q: but found A:"),
        ("Q: hi Q: again A: x", "expected A: but found Q:"),
        ("Q: hi A:   ", "A: part is empty"),
        ("intro Q: hi A: x", "text before the first marker"),
        ('{"messages": [{"role": "user", "content": "q"}]}', "no assistant message"),
    ],
)
def test_text_syntax_errors(text, reason):
    with pytest.raises(LineRejected) as err:
        example_from_text(text)
    assert reason in err.value.reason


def test_csv_cells_keep_their_blank_lines():
    data = b'prompt,completion\n"para1\n\npara2","a\n\n\nb"\n\nq,ok\n'
    examples, rejections = run(data, name="d.csv")
    assert rejections == []
    assert examples[0].messages[0].content == "para1\n\npara2"
    assert examples[0].answer == "a\n\n\nb"
    assert examples[1].origin == "d.csv:9"  # blank lines still count


def test_csv_header_after_blank_lines():
    examples, rejections = run(b"\n\nprompt,completion\nq,a\n", name="d.csv")
    assert rejections == []
    assert [e.answer for e in examples] == ["a"] and examples[0].origin == "d.csv:4"
