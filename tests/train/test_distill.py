"""Distillation: a student of another size and another tokenizer learns from verified traces (from
files or from a teacher checkpoint)."""
import json

import pytest

from reasonrl.config import ConfigError, load_config
from reasonrl.models import build_char_tokenizer, load_model
from reasonrl.tasks.walk import WalkTask, worked_response
from reasonrl.train import distill
from reasonrl.train.distill import DistillConfig, StudentConfig


def _traces(tmp_path, n=12):
    """n verified worked traces of walk training problems, plus one wrong and one unreadable row."""
    rows = []
    for s in WalkTask(heldout_size=10).train_batch(seed=3, step=0, n=n):
        rows.append({"prompt": s.prompt, "completion": worked_response(s.meta["values"]), "answer": s.answer})
    wrong = rows[0]["completion"].replace(f">{rows[0]['answer']}</answer>", ">x</answer>")
    rows.append({**rows[0], "completion": wrong})
    rows.append({**rows[1], "completion": rows[1]["completion"].replace("</think>", "")})
    f = tmp_path / "traces.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def test_bpe_tokenizer_round_trips_and_differs_from_the_teachers():
    texts = ["5-2+0=<think>5,3,3</think><answer>3</answer>"] * 20 + ["7+1-1=<think>7,8,7</think><answer>7</answer>"]
    tok = distill.bpe_tokenizer(texts, vocab_size=120)
    ids = tok(texts[0], add_special_tokens=False).input_ids
    assert tok.decode(ids) == texts[0]
    assert len(ids) < len(build_char_tokenizer()(texts[0], add_special_tokens=False).input_ids)   # merges happened
    assert tok.convert_ids_to_tokens(tok("<think>", add_special_tokens=False).input_ids) == ["<think>"]


def test_build_student_of_another_size_and_tokenizer(tmp_path):
    scfg = StudentConfig(tokenizer="bpe", bpe_vocab=120, hidden=32, layers=2, heads=2, intermediate=64)
    path = distill.build_student(scfg, tmp_path / "student", "", ["1+2=<answer>3</answer>"] * 5)
    model, tok = load_model(path, device="cpu")
    assert model.config.hidden_size == 32 and model.config.vocab_size == len(tok) != len(build_char_tokenizer())
    assert (tok.pad_token_id, tok.eos_token_id) == (model.config.pad_token_id, model.config.eos_token_id)


def test_no_teacher_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="teacher.path"):
        distill.distill(load_config(None, [f"out={tmp_path}"], cls=DistillConfig), log=lambda *_: None)


SMALL = ["student.hidden=32", "student.layers=2", "student.heads=2", "student.intermediate=64",
         "train.steps=3", "train.batch_size=8", "eval.size=8", "eval.sampled=false", "eval.max_new_tokens=30"]


def test_smoke_distill_trace_files_into_a_bpe_student(tmp_path):
    cfg = load_config(None, SMALL + [f"out={tmp_path / 'd'}", f"traces=[{_traces(tmp_path)}]",
                                     "student.tokenizer=bpe", "student.bpe_vocab=150"], cls=DistillConfig)
    s = distill.distill(cfg, log=lambda *_: None)
    kept = s["traces"]["files"]
    assert kept["kept"] == 12 and kept["dropped"] == {"missing_tags": 1, "wrong": 1}
    assert s["sft"]["steps"] == 3 and s["sft"]["examples"] == 12 and "acc/heldout" in s["sft"]["after"]
    model, tok = load_model(s["model"], device="cpu")
    assert model.config.hidden_size == 32 and len(tok) == 150
    assert (tmp_path / "d" / "config.yaml").is_file() and (tmp_path / "d" / "sft" / "config.yaml").is_file()


def test_smoke_distill_from_a_teacher_checkpoint(tmp_path):
    cfg = load_config(None, SMALL + [f"out={tmp_path / 'd'}", "teacher.path=embedded", "prompts.count=8",
                                     "sample.k=2", "sample.max_new_tokens=30"], cls=DistillConfig)
    s = distill.distill(cfg, log=lambda *_: None)
    t = s["traces"]["teacher"]
    assert t["samples"] == 16 and t["kept"] > 0 and s["sft"]["examples"] == t["kept"]
    again = distill.distill(cfg, log=lambda *_: None)            # a re-run resumes: nothing is redone
    assert again["sft"]["steps"] == 3 and again["traces"] == s["traces"]
