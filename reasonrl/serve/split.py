"""Split a completion into reasoning and answer, as DeepSeek's API does (`reasoning_content` and
`content`), and cut it at stop strings; both work on text that arrives in pieces of any size.

Rules of the splitter (one table, tested whole and one character at a time, see tests/serve):

  prompt opened <think>?  completion                  reasoning   content
  no                      <think>R</think>C           R           C
  no                      C                           ""          C
  no                      <think>R  (unclosed)        R           ""
  no                      R</think>C (only the close) ""          R</think>C  (kept: said as content)
  yes                     R</think>C                  R           C
  yes                     <think>R</think>C           R           C       (a repeated opening is dropped)
  yes                     R  (unclosed)               R           ""

The answer tags of the R1 template are template, not content: content "<answer>C</answer>" becomes
C (text after the closing tag follows after a space); the completion as generated stays in `raw`.

Whitespace at the start of each part and at the end of the reasoning is dropped (R1 writes
"<think>\\n...\\n</think>\\n\\n"). The opening tag counts only as the first non-blank text. Text is
held back only while it may still become a tag (or is blank at a part's edge), so the parts are the
same whatever the chunking: `feed` returns what is decided, `finish` returns the rest.
"""
from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def prompt_opens_think(prompt: str) -> bool:
    """True when the rendered prompt leaves a think block open (e.g. R1's template ends in "<think>\\n")."""
    return prompt.rfind(OPEN) > prompt.rfind(CLOSE)


def held_suffix(text: str, needles: tuple[str, ...] | list[str]) -> int:
    """Length of the longest proper suffix of `text` that is a prefix of one of `needles`
    (what must be held back because the next piece may complete a needle). "ab<th", ["<think>"] -> 3."""
    best = 0
    for needle in needles:
        for k in range(min(len(text), len(needle) - 1), best, -1):
            if text.endswith(needle[:k]):
                best = k
                break
    return best


class ReasoningSplitter:
    """Streaming splitter: `feed(piece) -> (reasoning, content)` deltas; `finish()` flushes."""

    def __init__(self, prompt_opened: bool = False):
        self.state = "think_start" if prompt_opened else "start"
        self.buf = ""
        self.reasoning = ""
        self.content = ""
        self.raw = ""                            # the completion as generated, tags included

    def feed(self, piece: str) -> tuple[str, str]:
        self.buf += piece
        self.raw += piece
        r, c = self._step(final=False)
        self.reasoning += r
        self.content += c
        return r, c

    def finish(self) -> tuple[str, str]:
        r, c = self._step(final=True)
        self.reasoning += r
        self.content += c
        return r, c

    def _step(self, final: bool) -> tuple[str, str]:
        """Run the state machine over the buffer until it needs more text."""
        out_r, out_c = [], []
        while True:
            moved = getattr(self, "_" + self.state)(final, out_r, out_c)
            if not moved:
                return "".join(out_r), "".join(out_c)

    # Each state consumes from self.buf and returns True when it changed something.
    def _start(self, final, out_r, out_c) -> bool:
        text = self.buf.lstrip()
        if text.startswith(OPEN):
            self.buf, self.state = text[len(OPEN):], "think_start"
            return True
        if not text or (OPEN.startswith(text) and not final):
            self.buf = text
            return False
        self.state = "content_start"
        return True

    def _think_start(self, final, out_r, out_c) -> bool:
        text = self.buf.lstrip()
        if text.startswith(OPEN):                # the model repeats the prompt's opening: drop it
            self.buf = text[len(OPEN):]
            return True
        if not text or (OPEN.startswith(text) and not final):
            self.buf = text
            return False
        self.buf, self.state = text, "think"
        return True

    def _until(self, close: str, final: bool, out: list, then: str) -> bool:
        """Move text to `out` up to `close` (dropped, with the blanks before it), then go to state `then`."""
        i = self.buf.find(close)
        if i >= 0:
            out.append(self.buf[:i].rstrip())
            self.buf, self.state = self.buf[i + len(close):], then
            return True
        keep = 0 if final else held_suffix(self.buf, (close,))
        head = self.buf[:len(self.buf) - keep]
        safe = head.rstrip()                     # blanks before a possible close are held too
        out.append(safe)
        self.buf = "" if final else self.buf[len(safe):]
        return False

    def _think(self, final, out_r, out_c) -> bool:
        return self._until(CLOSE, final, out_r, "content_start")

    def _content_start(self, final, out_r, out_c) -> bool:
        self.buf = self.buf.lstrip()
        if self.buf.startswith(ANSWER_OPEN):
            self.buf, self.state = self.buf[len(ANSWER_OPEN):].lstrip(), "answer_start"
            return True
        if not self.buf or (ANSWER_OPEN.startswith(self.buf) and not final):
            return False
        self.state = "content"
        return True

    def _answer_start(self, final, out_r, out_c) -> bool:
        self.buf = self.buf.lstrip()
        if not self.buf:
            return False
        self.state = "answer"
        return True

    def _answer(self, final, out_r, out_c) -> bool:
        return self._until(ANSWER_CLOSE, final, out_c, "tail")

    def _tail(self, final, out_r, out_c) -> bool:
        """Text after </answer>: dropped while blank, else content after a space."""
        self.buf = self.buf.lstrip()
        if not self.buf:
            return False
        out_c.append(" ")
        self.state = "content"
        return True

    def _content(self, final, out_r, out_c) -> bool:
        out_c.append(self.buf)
        self.buf = ""
        return False


class StopMatcher:
    """Cut streamed text at the first stop string: `feed(piece) -> (text to emit, stopped)`.

    Text that may be the start of a stop string is held until it is decided; `flush()` releases it
    when generation ends for another reason. The stop string itself is never emitted."""

    def __init__(self, stops: tuple[str, ...] | list[str] = ()):
        self.stops = tuple(s for s in stops if s)
        self.buf = ""
        self.stopped = False

    def feed(self, piece: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        self.buf += piece
        hits = [i for i in (self.buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buf, self.stopped = self.buf[:min(hits)], "", True
            return out, True
        keep = held_suffix(self.buf, self.stops)
        out = self.buf[:len(self.buf) - keep]
        self.buf = self.buf[len(out):]
        return out, False

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return "" if self.stopped else out


def split_reasoning(text: str, prompt_opened: bool = False) -> tuple[str, str]:
    """Whole-text form: (reasoning, content) of a finished completion."""
    s = ReasoningSplitter(prompt_opened)
    s.feed(text)
    s.finish()
    return s.reasoning, s.content
