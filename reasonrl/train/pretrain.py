"""`reasonrl pretrain`: make the tiny base model of the embedded default, reproducibly, from scratch.

The corpus is generated on the fly from the walk task: each batch is all terse answers
(`<think></think><answer>A</answer>`, whose answers are learnable but often wrong) or all worked
solutions (running values inside <think>), a length bucket each. Worked share 0.5 for most of
training, then `anneal_share` for the last `anneal_frac` of steps so that the base *samples* the
worked style only ~10-15% of the time and answers tersely when greedy. Loss is on the response only.
Difficulty as in the task config (docs/difficulty.md): each batch draws one chain length uniformly in
[min_terms, max_terms]; pad_terms pads every prompt to one width. The defaults give the embedded base.
The worked skill appears through a phase transition whose timing depends on the seed, so a gate
keeps training in chunks until forced-worked greedy accuracy reaches `gate_accuracy`.

CPU:  reasonrl pretrain                      (about 5-7 minutes on 2 cores)
      reasonrl pretrain out=my-base seed=2   (then: reasonrl train model.path=my-base)
      reasonrl pretrain out=padded min_terms=4 max_terms=10 pad_terms=10
      reasonrl pretrain arch=moe worked_share=0.7 out=my-moe   (the embedded-moe base, DeepSeek-V3 style)
      reasonrl pretrain out=my-base init=embedded min_terms=4 pad_terms=10 partial_share=0.8 partial_stop=0.3 steps=600
                                             (continue the embedded base on another corpus; docs/difficulty.md)
The config and seed are saved beside the weights (pretrain_config.yaml, pretrain_report.json).
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from reasonrl.config import PretrainConfig  # noqa: F401  (the config section lives in reasonrl.config)
from reasonrl.errors import ConfigError
from reasonrl.models import TINY_BUILDERS, build_char_tokenizer, n_params
from reasonrl.rollout.hf import HFBackend
from reasonrl.tasks.walk import (GUESS_MARK, TERMS, WalkTask, check_difficulty, direct_response, guess_response,
                                 make_problem, partial_response, recheck_response, worked_response)


def partial_count(rng: random.Random, terms: int, stop: float = 0.0) -> int:
    """How many running values a partial scratchpad writes: uniform in 1..terms-1 (stop = 0), or, with
    stop > 0, a stop with chance `stop` before each value, the first included, at most `terms`: a
    geometric length cut at the full scratchpad, P(j) = stop * (1 - stop) ** j for j < terms and
    P(terms) = (1 - stop) ** terms; j = 0 is the terse answer."""
    if stop <= 0:
        return rng.randint(1, terms - 1)
    j = 0
    while j < terms and rng.random() >= stop:
        j += 1
    return j


def _batch(tok, rng: random.Random, size: int, worked: bool, terms: int = TERMS, pad_terms: int = 0,
           partial: bool = False, recheck: bool = False, partial_stop: float = 0.0, guess_first: bool = False):
    """(input_ids, labels) of a one-style batch of `terms`-term chains; labels are -100 on the prompt.
    partial (with worked): each answer writes the first j running values, j from partial_count
    (rows of different j differ in length, so they are padded with the end token, which the labels
    ignore past the first one). recheck (with worked, instead of partial): each answer is the right
    answer as a guess, then ' wait ' and the full scratchpad (reasonrl.tasks.walk.recheck_response).
    guess_first: the guess is written first, marked, in terse answers too (`<think>A?</think>`,
    `<think>A? wait ...`), so that the choice to re-check comes after it."""
    ids, labels = [], []
    for _ in range(size):
        prompt, values = make_problem(rng, terms, pad_terms)
        if worked and recheck:
            resp = recheck_response(values, values[-1], GUESS_MARK if guess_first else "")
        elif worked and partial:
            j = partial_count(rng, terms, partial_stop)
            resp = partial_response(values, j) if j else direct_response(values[-1])
        else:
            terse = guess_response(values[-1]) if guess_first else direct_response(values[-1])
            resp = worked_response(values) if worked else terse
        p = [tok.bos_token_id] + tok(prompt, add_special_tokens=False).input_ids
        r = tok(resp, add_special_tokens=False).input_ids + [tok.eos_token_id]
        ids.append(p + r)
        labels.append([-100] * len(p) + r)
    width = max(map(len, ids))
    ids = [row + [tok.eos_token_id] * (width - len(row)) for row in ids]
    labels = [row + [-100] * (width - len(row)) for row in labels]
    return torch.tensor(ids), torch.tensor(labels)


def load_init(path: str):
    """(model, tokenizer) of a walk base to continue pretraining from ('embedded', 'embedded-moe' or a
    folder written by `reasonrl pretrain`): its architecture replaces arch/hidden/layers/heads/intermediate.
    A one-line ConfigError when the folder is missing or does not use the walk's character tokenizer."""
    from reasonrl.models import ModelError, load_model

    try:
        model, tok = load_model(path, device="cpu")
    except ModelError as e:
        raise ConfigError(f"config key 'init': {e}") from None
    if tok.get_vocab() != build_char_tokenizer().get_vocab():
        raise ConfigError(f"config key 'init': '{path}' does not use the walk's character tokenizer "
                          f"(a base written by `reasonrl pretrain`, or 'embedded')")
    return model, tok


def _lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def evaluate_base(model, tok, samples, seed: int = 0, recheck_only: bool = False, mark: str = "") -> dict:
    """Greedy, forced-worked greedy (after '<think>' and the first running value with its comma), and
    sampled (T=1) accuracy/style of a walk model; with several chain lengths also forced-worked accuracy
    per length ('forced_worked_acc/terms=N'). recheck_only (a corpus whose every scratchpad follows a
    guess): the forced prefix is a wrong guess re-checked, '<think>W wait v0,', so the measure is
    whether the worked answer overrides the guess (`mark` after it: the guess-first style's '?')."""
    from reasonrl.tasks.walk import RECHECK, style
    from reasonrl.verifiers import answer_reward

    backend = HFBackend(model, tok)
    prompts = [s.prompt for s in samples]
    budget = max(40, 2 * max(len(s.meta["values"]) for s in samples) + 8)   # a worked answer: 2 * terms + 5
    greedy = backend.generate(prompts, greedy=True, max_new_tokens=budget)
    # forced-worked: greedy after '<think>v0,' -- the comma commits to a scratchpad (a re-checked guess
    # goes on with ' wait', a one-value partial scratchpad with '</think>')
    wrong_guess = [f"{(int(s.answer) + 1) % 10}{mark}{RECHECK}" if recheck_only else "" for s in samples]
    starts = [f"<think>{w}{s.meta['values'][0]}," for w, s in zip(wrong_guess, samples)]
    forced_prompts = [p + start for p, start in zip(prompts, starts)]
    forced = backend.generate(forced_prompts, greedy=True, max_new_tokens=budget)
    torch.manual_seed(seed)
    sampled = backend.generate(prompts, temperature=1.0, max_new_tokens=budget)

    def acc(texts, prefix=""):
        return sum(answer_reward(prefix + t, s).score for t, s in zip(texts, samples)) / len(samples)
    forced_texts = [start + t for start, t in zip(starts, forced.texts)]
    out = {"greedy_acc": acc(greedy.texts), "forced_worked_acc": acc(forced_texts),
           "sampled_acc": acc(sampled.texts),
           "sampled_worked_share": sum(style(t) == "worked" for t in sampled.texts) / len(samples),
           "greedy_len": greedy.completion_mask.sum(1).float().mean().item(),
           "sampled_len": sampled.completion_mask.sum(1).float().mean().item()}
    levels: dict[str, list[float]] = {}
    for t, s in zip(forced_texts, samples):
        levels.setdefault(s.meta["level"], []).append(answer_reward(t, s).score)
    if len(levels) > 1:
        out.update({f"forced_worked_acc/{k}": sum(v) / len(v) for k, v in levels.items()})
    return out


def pretrain(cfg: PretrainConfig, log=print) -> dict:
    check_difficulty(cfg.min_terms, cfg.max_terms, cfg.pad_terms, prefix="")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(f"pretrain-{cfg.seed}")
    if cfg.arch not in TINY_BUILDERS:
        raise ConfigError(f"config key 'arch': unknown architecture '{cfg.arch}' (choose from {', '.join(TINY_BUILDERS)})")
    if cfg.init:
        model, tok = load_init(cfg.init)
    else:
        tok = build_char_tokenizer()
        model = TINY_BUILDERS[cfg.arch](len(tok), cfg.hidden, cfg.layers, cfg.heads, cfg.intermediate, seed=cfg.seed,
                                        pad_id=tok.pad_token_id, bos_id=tok.bos_token_id, eos_id=tok.eos_token_id)
    log(f"pretrain: {type(model).__name__.removesuffix('ForCausalLM')} {n_params(model):,} params, vocab {len(tok)}, "
        f"{cfg.steps} steps, seed {cfg.seed}" + (f", from {cfg.init}" if cfg.init else ""))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    heldout = WalkTask(cfg.eval_size, min_terms=cfg.min_terms, max_terms=cfg.max_terms,
                       pad_terms=cfg.pad_terms).heldout()
    anneal_start = int(cfg.steps * (1 - cfg.anneal_frac))
    t0, step, report = time.time(), 0, {}

    def run_steps(n: int):
        nonlocal step
        model.train()
        for _ in range(n):
            share = cfg.worked_share if step < anneal_start else cfg.anneal_share
            worked = rng.random() < share
            terms = rng.randint(cfg.min_terms, cfg.max_terms) if cfg.max_terms > cfg.min_terms else cfg.min_terms
            partial = worked and cfg.partial_share > 0 and rng.random() < cfg.partial_share
            recheck = worked and cfg.recheck_share > 0 and rng.random() < cfg.recheck_share
            ids, labels = _batch(tok, rng, cfg.batch_size, worked, terms, cfg.pad_terms, partial, recheck,
                                 cfg.partial_stop, cfg.guess_first)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, cfg)
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 200 == 0:
                log(f"  step {step:5d}  loss {loss.item():.4f}  lr {_lr_at(step, cfg):.2e}  {time.time() - t0:.0f}s")
        model.eval()

    run_steps(cfg.steps)
    gate_args = (cfg.seed, cfg.recheck_share >= 1, GUESS_MARK if cfg.guess_first else "")
    report = evaluate_base(model, tok, heldout, *gate_args)
    log(f"  after {step} steps: {_fmt(report)}")
    for _chunk in range(cfg.gate_max_chunks):
        if report["forced_worked_acc"] >= cfg.gate_accuracy:
            break
        log(f"  gate: forced-worked accuracy {report['forced_worked_acc']:.2f} < {cfg.gate_accuracy}; "
            f"{cfg.gate_chunk_steps} more steps")
        run_steps(cfg.gate_chunk_steps)
        report = evaluate_base(model, tok, heldout, *gate_args)
        log(f"  after {step} steps: {_fmt(report)}")
    report.update(steps=step, seconds=round(time.time() - t0, 1), params=n_params(model),
                  gate_passed=report["forced_worked_acc"] >= cfg.gate_accuracy)
    save_base(model, tok, cfg, report)
    log(f"pretrain: wrote {cfg.out} in {report['seconds']:.0f}s (gate {'passed' if report['gate_passed'] else 'FAILED'})")
    return report


def _fmt(r: dict) -> str:
    return (f"greedy acc {r['greedy_acc']:.2f}, forced-worked acc {r['forced_worked_acc']:.2f}, "
            f"sampled acc {r['sampled_acc']:.2f}, sampled worked share {r['sampled_worked_share']:.2f}")


def save_base(model, tok, cfg: PretrainConfig, report: dict) -> None:
    import yaml

    from reasonrl.config import to_dict

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "pretrain_config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    (out / "pretrain_report.json").write_text(json.dumps(report, indent=2) + "\n")
