"""Format rewards: a fixed fixture corpus with fixed expected scores."""
import pytest

from reasonrl.types import Sample
from reasonrl.verifiers import format_reward, tag_count_reward
from reasonrl.verifiers.context import RewardContext

FIXTURES = [  # (completion, format score, tag_count score, why)
    ("<think>a</think><answer>1</answer>", 1.0, 1.0, "minimal"),
    ("<think>\nline 1\nline 2\n</think>\n\n<answer>\n42\n</answer>\n", 1.0, 1.0, "multi-line, newlines between blocks"),
    ("  <think></think> <answer>7</answer>  ", 1.0, 1.0, "empty think is allowed (the walk's direct answers)"),
    ("<think>a</think><answer>1</answer><|im_end|>", 1.0, 1.0, "trailing end-of-turn marker"),
    ("<think>a</think><answer>1</answer></s>", 1.0, 1.0, "trailing EOS text"),
    ("<think>a</think><answer>  </answer>", 0.0, 1.0, "empty answer"),
    ("<think>a</think><answer>1</answer><answer>2</answer>", 0.0, 0.5, "two answer blocks"),
    ("<think>a</think><think>b</think><answer>1</answer>", 0.0, 0.5, "two think blocks"),
    ("<think>a</think><answer>1</answer> and more", 0.0, 1.0, "text after the answer"),
    ("so <think>a</think><answer>1</answer>", 0.0, 1.0, "text before think"),
    ("<think>a <answer>1</answer>", 0.0, 0.75, "unclosed think"),
    ("<think>a</think>", 0.0, 0.5, "no answer"),
    ("<answer>1</answer><think>a</think>", 0.0, 1.0, "out of order"),
    ("<think><answer>1</answer></think><answer>1</answer>", 0.0, 0.5, "answer inside think, repeated"),
    ("</answer></answer></answer>", 0.0, 0.0, "tag spam"),
]


@pytest.mark.parametrize("text, fmt, tags, why", FIXTURES, ids=[f[3] for f in FIXTURES])
def test_format_fixtures(text, fmt, tags, why):
    assert format_reward(text).score == fmt
    assert tag_count_reward(text).score == tags


def test_reason_says_what_is_wrong():
    assert format_reward("<think>a</think><answer>1</answer><answer>2</answer>").reason == \
        "tags not exactly once: <answer> x2, </answer> x2"
    assert format_reward("<think>a</think><answer> </answer>").reason == "empty answer block"


def test_prefilled_think():
    """The RL loop prepends the prefilled "<think>\\n" itself; a context whose prompt ends in <think>
    and a completion that starts inside the block is also well formed."""
    assert format_reward("<think>\nsteps</think><answer>1</answer>").score == 1.0
    ctx = RewardContext(prompt="Q? Assistant: <think>\n", completion="steps</think><answer>1</answer>",
                        sample=Sample("Q?", "1"))
    assert format_reward(ctx).score == 1.0
    assert format_reward(ctx.completion).score == 0.0     # without the prompt there is no opening tag
