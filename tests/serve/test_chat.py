"""`reasonrl chat`: the terminal loop over piped lines, and the CLI wiring of serve/chat."""
import io
import sys

import pytest

from reasonrl.serve.chat import chat_loop
from reasonrl.serve.engine import Engine
from reasonrl.serve.protocol import PromptBuilder


@pytest.fixture
def engine_and_builder(tiny):
    model, tok = tiny
    eng = Engine(model, tok, max_batch=1, max_queue=1).start()
    yield eng, PromptBuilder(tok)
    eng.close()


def test_smoke_chat_loop_streams_answers(engine_and_builder):
    eng, builder = engine_and_builder
    out = io.StringIO()
    lines = ["5-2+0+0-2+3+3+1+1-6=\n", "\n", "/reset\n", "1+1+1=\n", "/quit\n", "never read\n"]
    n = chat_loop(eng, builder, lines, out, sampling={"temperature": 0.0, "max_tokens": 40})
    text = out.getvalue()
    assert n == 2
    assert text.count("answer: ") == 2 and "<answer>" not in text and "(conversation cleared)" in text
    assert text.count("[stop, ") == 2 and "never" not in text


def test_chat_loop_shows_reasoning_dimmed_and_can_hide_it(engine_and_builder):
    eng, builder = engine_and_builder
    # The message opens the think block and starts the scratchpad (the raw template shows it as is),
    # so the tiny model continues the worked solution: ",3,3,3,1,4,7,8,9,3</think><answer>3</answer>".
    forced = ["5-2+0+0-2+3+3+1+1-6=<think>5"]
    out = io.StringIO()
    chat_loop(eng, builder, forced, out, sampling={"temperature": 0.0, "max_tokens": 40}, color=True)
    assert "thinking: \x1b[2m,3,3,3,1,4,7,8,9,3\x1b[0m\nanswer: 3\n" in out.getvalue()
    out = io.StringIO()
    chat_loop(eng, builder, forced, out, sampling={"temperature": 0.0, "max_tokens": 40}, show_reasoning=False)
    assert "thinking:" not in out.getvalue() and "answer: 3\n" in out.getvalue()


def test_chat_loop_reports_errors_and_continues(engine_and_builder):
    eng, builder = engine_and_builder
    out = io.StringIO()
    n = chat_loop(eng, builder, ["1+" * 200, "1+1="], out, sampling={"temperature": 0.0, "max_tokens": 10})
    assert "error: the prompt is 401 tokens" in out.getvalue() and n == 1


def test_cli_help_lists_every_option_with_default(capsys):
    from reasonrl.cli import main

    for cmd, opts in (("serve", ["--host", "--port", "--api-key", "--template", "--max-batch", "--max-tokens"]),
                      ("chat", ["--temperature", "--top-p", "--max-tokens", "--hide-reasoning"])):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        for o in opts:
            assert o in text
        assert text.count("(default:") >= len(opts)


def test_cli_bad_input_is_one_line_exit_2(capsys, monkeypatch):
    from reasonrl.cli import main

    assert main(["serve", "embedded", "--max-batch", "0"]) == 2
    assert "reasonrl: error: option --max-batch must be >= 1, got 0" in capsys.readouterr().err
    assert main(["chat", "/no/such/model"]) == 2
    assert "model path '/no/such/model' does not exist" in capsys.readouterr().err
    assert main(["chat", "embedded", "--temperature", "3"]) == 2
    assert "option --temperature" in capsys.readouterr().err


def test_cli_chat_reads_piped_stdin(capsys, monkeypatch):
    from reasonrl.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("5-2+0+0-2+3+3+1+1-6=\n"))
    assert main(["chat", "embedded", "--temperature", "0", "--device", "cpu"]) == 0
    assert "answer: " in capsys.readouterr().out


def test_served_name():
    from reasonrl.serve.command import served_name

    assert served_name("embedded") == "tiny-walk"
