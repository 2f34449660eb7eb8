"""The reasoning splitter and the stop matcher give the same result whatever the chunking."""
import random

import pytest

from reasonrl.serve.split import (ReasoningSplitter, StopMatcher, held_suffix, prompt_opens_think,
                                  split_reasoning)

# (case, prompt opened <think>?, completion, expected reasoning, expected content)
TABLE = [
    ("both tags", False, "<think>5,3,3</think><answer>3</answer>", "5,3,3", "3"),
    ("answer tags with blanks", False, "<think>5</think>\n<answer> 3 </answer>\n", "5", "3"),
    ("text after the answer", False, "<answer>3</answer> and more", "", "3 and more"),
    ("unclosed answer", False, "<think>5</think><answer>3", "5", "3"),
    ("partial answer tag only", False, "<ans", "", "<ans"),
    ("both tags, R1 blanks", False, "<think>\nLet me add.\n</think>\n\nIt is 3.", "Let me add.", "It is 3."),
    ("both tags, empty think", False, "<think></think><answer>2</answer>", "", "2"),
    ("both tags, leading blank", False, "  \n<think>a</think>b", "a", "b"),
    ("none", False, "It is 3.", "", "It is 3."),
    ("none, leading blanks", False, "\n\n It is 3. ", "", "It is 3. "),
    ("unclosed", False, "<think>5,3,3,3", "5,3,3,3", ""),
    ("unclosed, ends in a partial close", False, "<think>abc </thi", "abc </thi", ""),
    ("only </think>, not opened: kept as content", False, "abc</think>3", "", "abc</think>3"),
    ("partial opening only", False, "<thi", "", "<thi"),
    ("opening later is content", False, "x <think>y</think>z", "", "x <think>y</think>z"),
    ("opened: only </think>", True, "Let me add.\n</think>\n\n3", "Let me add.", "3"),
    ("opened: repeated opening dropped", True, "<think>abc</think>3", "abc", "3"),
    ("opened: none/unclosed", True, "still thinking  ", "still thinking", ""),
    ("opened: empty", True, "", "", ""),
    ("opened: close first", True, "</think>3", "", "3"),
    ("opened: second close is content", True, "a</think>b</think>c", "a", "b</think>c"),
    ("opened: tag-like text inside reasoning", True, "a </thin b</think>c", "a </thin b", "c"),
    ("blanks between words survive", True, "a  \n b</think>  c  d", "a  \n b", "c  d"),
]


@pytest.mark.parametrize("case,opened,text,reasoning,content", TABLE, ids=[row[0] for row in TABLE])
def test_split_table_whole_and_char_by_char(case, opened, text, reasoning, content):
    assert split_reasoning(text, opened) == (reasoning, content)
    s = ReasoningSplitter(opened)
    got_r, got_c = "", ""
    for ch in text:                                   # one character at a time
        r, c = s.feed(ch)
        got_r, got_c = got_r + r, got_c + c
    r, c = s.finish()
    assert (got_r + r, got_c + c) == (reasoning, content)


@pytest.mark.parametrize("case,opened,text,reasoning,content", TABLE, ids=[row[0] for row in TABLE])
def test_split_table_random_chunkings(case, opened, text, reasoning, content):
    rng = random.Random(case)
    for _ in range(20):
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(0, 5))))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        s = ReasoningSplitter(opened)
        for p in pieces:
            s.feed(p)
        s.finish()
        assert (s.reasoning, s.content) == (reasoning, content), pieces


def test_split_emits_reasoning_before_the_close_arrives():
    s = ReasoningSplitter(prompt_opened=False)
    assert s.feed("<think>ab") == ("ab", "")
    assert s.feed("c </") == ("c", "")                # " </" held: may become "</think>"
    assert s.feed("think>") == ("", "")
    assert s.feed("x") == ("", "x")


def test_prompt_opens_think():
    assert prompt_opens_think("User: hi\nAssistant: <think>\n")
    assert not prompt_opens_think("raw prompt 5-2=")
    # the R1-Zero template mentions both tags, closed: not opened
    assert not prompt_opens_think("... <think> reasoning process here </think> <answer> answer here </answer>. "
                                  "User: 1+1. Assistant:")
    assert prompt_opens_think("<think> a </think> then <think>")


def test_held_suffix():
    assert held_suffix("ab<th", ("<think>",)) == 3            # "<th" may grow into "<think>"
    assert held_suffix("ab<think>", ("<think>",)) == 0        # a whole needle is not a proper prefix
    assert held_suffix("abc", ("<think>",)) == 0
    assert held_suffix("x</", ("</think>", "/")) == 2         # longest over the needles
    assert held_suffix("", ("ab",)) == 0


STOPS = [
    # (stops, text, emitted, stopped)
    (("</answer>",), "<answer>3</answer> more", "<answer>3", True),
    (("\n\n", "END"), "line\nnext\n\nrest", "line\nnext", True),
    (("END",), "no stop here EN", "no stop here EN", False),
    ((), "anything", "anything", False),
    (("ab", "b"), "xab", "x", True),                           # the earliest match wins
]


@pytest.mark.parametrize("stops,text,emitted,stopped", STOPS)
def test_stop_matcher_whole_and_char_by_char(stops, text, emitted, stopped):
    for pieces in ([text], list(text)):
        m = StopMatcher(stops)
        out, hit = "", False
        for p in pieces:
            o, hit = m.feed(p)
            out += o
        out += m.flush()
        assert (out, hit) == (emitted, stopped)
