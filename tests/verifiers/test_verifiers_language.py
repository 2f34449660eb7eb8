"""Language consistency: share of chain-of-thought words in the target language's script."""
import pytest

from reasonrl.types import Sample
from reasonrl.verifiers.context import RewardContext
from reasonrl.verifiers.language import chain_of_thought, language_reward, language_reward_zh, language_share, words_by_script


def test_word_counting_by_script():
    # "we add 两个 numbers": latin words we, add, numbers (3) + two Han characters (2)
    assert words_by_script("we add 两个 numbers, 3+4=7") == {"latin": 3, "han": 2}


@pytest.mark.parametrize("text, lang, share", [
    ("First add the two numbers, then divide.", "en", 1.0),
    ("先把两个数相加", "zh", 1.0),                  # 7 Han characters, all Chinese
    ("we add 两个 numbers", "en", 3 / 5),           # 3 latin of 5 words
    ("we add 两个 numbers", "zh", 2 / 5),
    ("x = 3 + 4 = 7", "en", 1.0),                   # one latin word (x), the rest is not words
    ("Сначала сложим", "en", 0.0),                  # Cyrillic only
])
def test_language_share(text, lang, share):
    assert language_share(text, lang) == pytest.approx(share, abs=1e-12)


def test_no_words_is_not_applicable():
    assert language_share("3 + 4 = 7", "en") is None
    v = language_reward("<think>1+2=3</think><answer>3</answer>")
    assert (v.score, v.status) == (None, "not_applicable")


def test_reward_reads_the_think_block_and_row_language():
    text = "<think>先相加 then divide</think><answer>7</answer>"   # 3 Han + 2 latin words in the CoT
    assert chain_of_thought(text) == "先相加 then divide"
    ctx = RewardContext(prompt="q", completion=text, sample=Sample("q", "7"), row={"language": "zh"})
    assert language_reward(ctx).score == pytest.approx(3 / 5)
    assert language_reward(text).score == pytest.approx(2 / 5)     # default target: en
    assert language_reward_zh(text).score == pytest.approx(3 / 5)


def test_unknown_language():
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        language_share("hi", "xx")
