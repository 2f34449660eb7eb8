"""`reasonrl check`: each listed mistake is caught with a readable message (no EOS ever generated,
truncation 100%, zero reward variance in every group, template not applied, batch sizes that do not
divide, a bad data row), the batch table is printed, and the embedded default passes."""
import json
import re
from dataclasses import replace

import pytest
import torch

from reasonrl.train.check import batch_rows, check_batches, check_rewards, check_stops, check_template
from reasonrl.cli import main
from reasonrl.config import load_config
from reasonrl.models import FAMILIES, build_char_tokenizer, build_family_tokenizer, load_model, save_tiny_family_model
from reasonrl.templates import Renderer
from reasonrl.types import Generations

FAST = ["--prompts", "2", "rollout.num_generations=2", "train.threads=1"]


def _check(capsys, *args):
    rc = main(["check", *args])
    out = capsys.readouterr().out
    return rc, out


def parrot(path, token: str, family: str = "qwen2", instruct: bool = False):
    """A family folder whose model always writes `token`: layers silenced (residual = the input
    embedding), the final norm keeps only feature 0 (= 1 for every token, 100 for `token`), so with
    tied embeddings every logit is h0 * E[j, 0] and `token` wins by 99 * h0 (h0 about 8)."""
    d = save_tiny_family_model(path, family, instruct)
    model, tok = load_model(d, device="cpu")
    tid = tok.convert_tokens_to_ids(token)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.model.embed_tokens.weight
        emb[:, 0] = 1.0
        emb[tid, 0] = 100.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
    model.save_pretrained(d)
    return d


def _gen(completion_ids, eos):
    """Generations for hand-made completions (N, T); truncated = no EOS in the row."""
    ids = torch.tensor(completion_ids)
    is_eos = torch.isin(ids, torch.tensor(eos))
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full((ids.shape[0],), ids.shape[1]))
    mask = (torch.arange(ids.shape[1])[None, :] <= first[:, None]).long()
    return Generations(prompt_ids=ids[:, :1], prompt_mask=torch.ones_like(ids[:, :1]), completion_ids=ids,
                       completion_mask=mask * (first[:, None] < ids.shape[1]) + mask * (first[:, None] == ids.shape[1]),
                       truncated=~is_eos.any(1), texts=["x"] * ids.shape[0])


# ---- the checks as functions ----

def test_batch_table_and_divisibility():
    cfg = load_config(None, ["train.prompts_per_step=4", "rollout.num_generations=6", "train.micro_batch_size=5"])
    rows = dict(batch_rows(cfg, prompt_tokens=10))
    # N = 4 x 6 = 24; one mini-batch: 24 sequences per optimizer step; ceil(24 / 5) = 5 passes
    assert rows["sequences per step (N = B*G)"] == "24"
    assert rows["micro-batch size"].startswith("5 -> 5 forward/backward")
    assert rows["tokens per step (at most)"] == "24 x (10 + 40) = 1,200"      # 24 * 50
    (warn,) = check_batches(cfg)
    assert warn.status == "warn" and "does not divide the 24 sequences" in warn.message
    (fail,) = check_batches(cfg, world=3)                                     # 4 prompts over 3 ranks
    assert fail.status == "fail" and "train.prompts_per_step=4 does not divide over WORLD_SIZE=3" in fail.message
    base = load_config(None)                                  # num_generations=1 is refused by load_config
    one = replace(base, rollout=replace(base.rollout, num_generations=1))
    assert "zero reward variance" in check_batches(one)[0].message


def test_stops_no_eos_vs_truncation():
    tok = build_char_tokenizer()                                  # <eos> = 2, <pad> = 0
    never = _gen([[10, 11, 12], [13, 14, 15]], eos=[2])
    f = check_stops(never, [2], tok, budget=3)
    assert f.status == "fail" and f.message.startswith("no EOS ever generated: none of 2 completions of 3 tokens")
    probe = _gen([[10, 2, 0, 0], [10, 11, 12, 13]], eos=[2])      # ends after 2 tokens in a longer probe
    f = check_stops(never, [2], tok, budget=3, probe=probe, probe_budget=4)
    assert f.status == "fail" and f.message.startswith("truncation rate 100%: none of 2 completions ended within "
                                                      "rollout.max_new_tokens=3, but with 4 tokens they end after 2")
    stray = _gen([[10, 1, 12]], eos=[2])                          # writes <bos> (a special, not an EOS)
    assert "the model writes <bos> (1), which is not an EOS id" in check_stops(stray, [2], tok, budget=3).message
    ok = check_stops(_gen([[10, 2, 0], [11, 12, 13]], eos=[2]), [2], tok, budget=3)
    assert ok.status == "warn" and "1/2 completions ended with EOS, truncated 50%" in ok.message


def test_rewards_zero_variance_and_errors():
    comps = {"answer": torch.tensor([0.0, 0.0, 1.0, 1.0])}
    (f,) = check_rewards(torch.tensor([0.0, 0.0, 1.0, 1.0]), comps, {"answer": ["wrong"] * 2 + ["correct"] * 2}, g=2)
    assert f.status == "fail" and f.message.startswith("every group has zero reward variance: all 2 groups of 2")
    (f,) = check_rewards(torch.tensor([0.0, 1.0, 1.0, 1.0]), comps, {"answer": ["wrong"] + ["correct"] * 3}, g=2)
    assert f.status == "ok" and f.message.startswith("1/2 groups have reward variance")
    (f,) = check_rewards(torch.zeros(2), comps, {"mine": ["error", "error"]}, g=2, reasons={"mine": "KeyError: 'x'"})
    assert f.message == "reward 'mine' raised an error on every completion (KeyError: 'x')"


def test_template_checks():
    chat = build_family_tokenizer("qwen2", instruct=True)
    (f,) = check_template(Renderer(chat, "raw"), chat, "2+2=", embedded=False)
    assert f.status == "fail" and f.message.startswith("template not applied: the tokenizer has a chat template")
    assert check_template(Renderer(chat, "auto"), chat, "2+2=", embedded=False)[0].status == "ok"
    chars = build_char_tokenizer()                                # markers would be split into characters
    chars.chat_template = FAMILIES["qwen2"]["template"]
    (f,) = check_template(Renderer(chars, "chat"), chars, "2+2=", embedded=False)
    assert f.message.startswith("template not applied as tokens: <|im_start|>, <|im_end|> are not single tokens")
    llama = build_family_tokenizer("llama", instruct=True)        # its template writes BOS; the encoder adds none
    found = check_template(Renderer(llama, "chat"), llama, "2+2=", embedded=False)
    assert [x.status for x in found] == ["ok"]


# ---- `reasonrl check` end to end ----

def test_embedded_default_passes_and_prints_the_batch_table(capsys):
    rc, out = _check(capsys, "--prompts", "2", "rollout.num_generations=4", "train.threads=1")
    assert rc == 0 and re.search(r"reasonrl check: passed( with \d+ warning\(s\))?$", out.rstrip())
    assert "resolved batch (one RL step):" in out and re.search(r"sequences per step \(N = B\*G\) +64\n", out)
    assert "[OK  ] rewards" in out


def test_catches_truncation_100(capsys):
    rc, out = _check(capsys, *FAST, "rollout.max_new_tokens=3")
    # the embedded model answers in 6+ tokens: nothing ends within 3, but a 64-token probe does
    assert rc == 1 and "[FAIL] rollout  truncation rate 100%: none of 4 completions ended within " \
                       "rollout.max_new_tokens=3, but with 64 tokens" in out


def test_catches_no_eos_ever(tmp_path, capsys):
    d = parrot(tmp_path / "m", "<|im_end|>")                     # a base folder: its only EOS is <|endoftext|>
    rc, out = _check(capsys, *FAST, f"model.path={d}", "rollout.max_new_tokens=8")
    assert rc == 1
    assert "[FAIL] rollout  no EOS ever generated: none of 4 completions of 8 tokens (nor a probe of 64)" in out
    assert "the model writes <|im_end|> (2), which is not an EOS id" in out


def test_catches_zero_reward_variance(tmp_path, capsys):
    d = parrot(tmp_path / "m", "<|endoftext|>")                  # stops at once: every completion is empty
    rc, out = _check(capsys, *FAST, f"model.path={d}")
    assert rc == 1 and "[FAIL] rewards  every group has zero reward variance: all 2 groups of 2" in out


def test_catches_template_not_applied(tmp_path, capsys):
    d = save_tiny_family_model(tmp_path / "m", "qwen2", instruct=True)
    rc, out = _check(capsys, *FAST, f"model.path={d}", "model.template=raw")
    assert rc == 1 and "[FAIL] template template not applied: the tokenizer has a chat template" in out


def test_catches_batch_sizes_that_do_not_divide(capsys):
    rc, out = _check(capsys, "algo.mini_batches=3")
    assert rc == 1 and "resolved batch (one RL step):" in out
    assert "[FAIL] config   batch sizes do not divide: algo.mini_batches=3 does not divide N = " \
           "train.prompts_per_step x rollout.num_generations = 16 x 8 = 128" in out


def test_catches_bad_data_rows_and_config_errors(tmp_path, capsys):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"problem": "1+1=", "answer": "2"}) + "\n" + json.dumps({"problem": "2+2="}) + "\n")
    rc, out = _check(capsys, *FAST, "task.name=dataset", f"task.path={f}", "task.heldout_size=1")
    assert rc == 1 and f"bad row: {f}:2: field 'answer': missing" in out and "[FAIL] data" in out
    rc, out = _check(capsys, "train.stepz=3")
    assert rc == 1 and "[FAIL] config   unknown config key 'train.stepz'" in out
    rc, out = _check(capsys, f"model.path={tmp_path / 'nope'}")
    assert rc == 1 and "[FAIL] model    model.path=" in out and "does not exist" in out


def test_help_lists_options_with_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "--prompts K" in out and "(default: 4)" in out and "task.on_bad_row=stop" in out
