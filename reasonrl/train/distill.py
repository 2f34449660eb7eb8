"""`reasonrl distill`: a teacher's verified reasoning traces -> SFT of a student of another size, and
possibly another tokenizer.

    teacher checkpoint --reasonrl sample--> OUT/traces/traces.jsonl     (k per problem, verified, readable)
    trace files        --same checks-----> OUT/trace-files/traces.jsonl
    student: student.path, or a fresh Qwen2 built from student.* with its own tokenizer -> OUT/student-init/
    SFT of the student on all kept traces -> OUT/sft/ (a normal SFT run dir; the model is OUT/sft/final)

Traces travel as text, so the student re-tokenizes them with its own tokenizer: `student.tokenizer`
is `char` (the embedded model's character tokenizer), `bpe` (a BPE of `student.bpe_vocab` tokens
trained on the kept traces), `teacher` (the teacher's), or a folder holding a tokenizer.
Every part resumes on re-run: sampling by batch, the student folder is written once, SFT by checkpoint.

Departures from the paper (R1 v1 §2.4): 800k curated samples become a few hundred verified traces of
the walk task; no RL after distillation here (the pipeline can add an `rl` stage).

CPU:   reasonrl distill teacher.path=runs/tiny-walk/final student.path=SMALL_BASE train.lr=5e-4 out=runs/distill
       (SMALL_BASE: e.g. reasonrl pretrain out=runs/small hidden=64 layers=2 intermediate=192)
GPUs:  reasonrl distill my.yaml teacher.path=/ckpt/rl/final student.path=/models/Qwen2.5-1.5B \\
           student.template=chat student.dtype=bfloat16 sample.max_new_tokens=16384 train.lr=1e-4
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reasonrl.config import (ConfigError, DistillConfig, ModelConfig, SampleConfig, SFTConfig,  # noqa: F401
                             SFTDataConfig, StudentConfig)
from reasonrl.train.rejection import filter_files, run_sample


def bpe_tokenizer(texts: list[str], vocab_size: int):
    """A BPE PreTrainedTokenizerFast trained on `texts`: the embedded specials, the 4 tags as single
    tokens, printable ASCII as the initial alphabet (any ASCII text stays encodable), no pre-tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, trainers
    from transformers import PreTrainedTokenizerFast

    from reasonrl.models import CHARS, SPECIALS, TAGS

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.decoder = decoders.Fuse()
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=CHARS,
                                  show_progress=False)
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
        padding_side="left", clean_up_tokenization_spaces=False)


def student_tokenizer(scfg: StudentConfig, teacher_path: str, texts: list[str]):
    from reasonrl.models import build_char_tokenizer, load_tokenizer

    if scfg.tokenizer == "char":
        return build_char_tokenizer()
    if scfg.tokenizer == "bpe":
        return bpe_tokenizer(texts, scfg.bpe_vocab)
    if scfg.tokenizer == "teacher":
        if not teacher_path:
            raise ConfigError("config key 'student.tokenizer': 'teacher' needs teacher.path")
        return load_tokenizer(teacher_path)
    if not Path(scfg.tokenizer).is_dir():
        raise ConfigError(f"config key 'student.tokenizer': expected char, bpe, teacher or a tokenizer folder, "
                          f"got '{scfg.tokenizer}'")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(scfg.tokenizer, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def build_student(scfg: StudentConfig, out: Path, teacher_path: str, texts: list[str]) -> Path:
    """Write a fresh student (model + tokenizer) to `out` once; later calls reuse it. -> its path."""
    from reasonrl.checkpoint import export
    from reasonrl.models import build_tiny_model

    if (out / "config.json").is_file():
        return out
    tok = student_tokenizer(scfg, teacher_path, texts)
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    model = build_tiny_model(len(tok), scfg.hidden, scfg.layers, scfg.heads, scfg.intermediate, scfg.max_positions,
                             seed=scfg.init_seed, pad_id=tok.pad_token_id, bos_id=bos, eos_id=tok.eos_token_id)
    export(model, tok, out)
    return out


def collect_traces(cfg: DistillConfig, log=print) -> tuple[list[str], dict]:
    """Teacher sampling and/or re-verified trace files -> (kept trace files, {source: summary})."""
    out = Path(cfg.out)
    files, summaries = [], {}
    if cfg.teacher.path:
        scfg = SampleConfig(out=str(out / "traces"), seed=cfg.seed, model=cfg.teacher, task=cfg.task,
                            prompts=cfg.prompts, sample=cfg.sample, filter=cfg.filter)
        summaries["teacher"] = run_sample(scfg, log)
        files.append(summaries["teacher"]["traces"])
    if cfg.traces:
        log(f"distill: re-verifying {len(cfg.traces)} trace file(s)")
        summaries["files"] = filter_files(cfg.traces, out / "trace-files", cfg.filter, log=log)
        files.append(summaries["files"]["traces"])
    return files, summaries


def _trace_texts(files: list[str]) -> list[str]:
    rows = [json.loads(x) for f in files for x in Path(f).read_text().splitlines() if x.strip()]
    return [r["prompt"] + r["completion"] for r in rows]


def distill(cfg: DistillConfig, log=print) -> dict:
    """Traces -> student -> SFT. Returns {'traces': summaries, 'student': path, 'sft': SFT result}
    (also OUT/summary.json)."""
    from reasonrl.train.rundir import check_or_write_config
    from reasonrl.train.sft import train as sft_train

    out = Path(cfg.out)
    if not cfg.teacher.path and not cfg.traces:
        raise ConfigError("distill needs a teacher: set teacher.path (a checkpoint) and/or traces (JSONL files)")
    check_or_write_config(cfg, out)
    files, summaries = collect_traces(cfg, log)
    if sum(s["kept"] for s in summaries.values()) == 0:
        raise ConfigError("distill: no trace passed the checks (see the drop counts above); "
                          "sample more (prompts.count, sample.k) or relax filter.*")
    s = cfg.student
    path = s.path or str(build_student(s, out / "student-init", cfg.teacher.path, _trace_texts(files)))
    model = ModelConfig(path=path, dtype=s.dtype, device=s.device, attn_implementation=s.attn_implementation,
                        template=s.template, prefill_think=s.prefill_think)
    sft_cfg = SFTConfig(out=str(out / "sft"), seed=cfg.seed, model=model, task=cfg.task,
                        data=replace(cfg.data, files=tuple(files)), train=cfg.train, eval=cfg.eval)
    result = sft_train(sft_cfg, log)
    summary = {"out": str(out), "traces": summaries, "student": path, "model": str(out / "sft" / "final"),
               "sft": result}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
