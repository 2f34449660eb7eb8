"""`reasonrl chat`: lines starting with "/" and a word are commands handled locally, never sent to
the model; other text (arithmetic starting with "/" included) is a message."""
import io

from reasonrl.serve.chat import COMMANDS, chat_loop


class _NoModel:
    """An engine that fails the test if anything reaches the model."""

    def submit(self, *a, **k):
        raise AssertionError("sent to the model")


def test_slash_commands_never_reach_the_model():
    out = io.StringIO()
    n = chat_loop(_NoModel(), builder=None, lines=["/help\n", "/models\n", "/reset\n", "/quit\n", "never\n"],
                  out=out, sampling={})
    text = out.getvalue()
    assert n == 0
    assert all(name in text for name in COMMANDS) and "/quit   leave (also /exit or Ctrl-D)" in text
    assert "unknown command /models (not sent to the model): /help lists the commands" in text
    assert "(conversation cleared)" in text and "never" not in text
