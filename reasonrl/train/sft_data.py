"""SFT data: rows of JSONL/JSON/Parquet files -> Examples -> token ids and labels -> packed rows.

The prompt is rendered exactly as RL, evaluation and serving render it (reasonrl.templates.Renderer,
then reasonrl.rollout.hf.encode_prompts, so BOS handling is shared); the completion is the tokenizer's
encoding of the completion text (minus the renderer's "<think>\\n" prefill when the template prefills
it) followed by EOS, which is what a sampler emits. Labels are IGNORE on the prompt. Packing is
first-fit-decreasing with position ids restarting at 0 per example (block-diagonal attention in
transformers). Used by reasonrl.train.sft (which re-exports these names) and reasonrl.train.rejection.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from reasonrl.errors import UserError
from reasonrl.rollout.hf import encode_prompts
from reasonrl.templates import Renderer

IGNORE = -100


@dataclass(frozen=True)
class Example:
    prompt: str                       # the task's prompt text, before the template
    completion: str                   # what the assistant writes (may start with the think prefill)
    system: str | None = None
    where: str = ""                   # "file:line" for messages


def _row_to_example(row: dict, where: str, prompt_field: str, completion_field: str) -> Example:
    if "messages" in row:
        msgs = row["messages"]
        ok = isinstance(msgs, list) and all(isinstance(m, dict) for m in msgs)
        roles = [m.get("role") for m in msgs] if ok else None
        if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
            raise UserError(f"{where}: field 'messages' must be [system?, user, assistant] turns, got roles "
                            f"{roles} (multi-turn conversations are not supported)")
        system = msgs[0]["content"] if roles[0] == "system" else None
        prompt, completion = msgs[-2].get("content"), msgs[-1].get("content")
        fields = ("messages[user].content", "messages[assistant].content")
    else:
        prompt, completion = row.get(prompt_field), row.get(completion_field)
        system, fields = row.get("system"), (prompt_field, completion_field)
    for name, value in zip(fields, (prompt, completion)):
        if not isinstance(value, str):
            raise UserError(f"{where}: field '{name}' is missing or not a string (rows need 'messages' or "
                            f"'{prompt_field}'/'{completion_field}')")
    if not completion.strip():
        raise UserError(f"{where}: field '{fields[1]}' is empty (the assistant mask would be all zero)")
    return Example(prompt, completion, system, where)


def read_rows(files) -> list[tuple[str, dict]]:
    """(where, row) for every row of JSONL/JSON/Parquet files (reasonrl.data.read); an unreadable
    line is a UserError naming file and line."""
    from reasonrl.data.read import read_records

    rows = []
    for f in files:
        for rec in read_records(f):
            if rec.error:
                raise UserError(f"{rec.where}: {rec.error}")
            rows.append((rec.where, rec.row))
    return rows


def read_examples(files, prompt_field: str = "prompt", completion_field: str = "completion") -> list[Example]:
    """Parse data files into Examples; any bad row is a UserError naming file, line and field."""
    for f in files:
        if not Path(f).exists():
            raise UserError(f"config key 'data.files': file '{f}' does not exist")
    out = [_row_to_example(row, where, prompt_field, completion_field) for where, row in read_rows(files)]
    if not out:
        raise UserError(f"config key 'data.files': no examples in {', '.join(map(str, files)) or '(no files)'}")
    return out


def encode_example(render: Renderer, tok, ex: Example) -> tuple[list[int], list[int]]:
    """-> (ids, labels), both of length P + C: ids = the inference prompt tokens (Renderer +
    encode_prompts) + the completion tokens + EOS; labels are IGNORE on the prompt."""
    ids, mask = encode_prompts(tok, [render(ex.prompt, ex.system)], "cpu")
    prompt = ids[0][mask[0].bool()].tolist()
    text = ex.completion
    if render.prefill and text.startswith(render.prefill):
        text = text[len(render.prefill):]       # the prompt already ends with the prefill
    comp = tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id]
    return prompt + comp, [IGNORE] * len(prompt) + comp


def pack(examples: list[tuple[list[int], list[int]]], length: int, pad_id: int, packing: bool = True):
    """First-fit-decreasing packing of (ids, labels) examples into rows of `length` tokens.

    -> input_ids (R, L), labels (R, L), position_ids (R, L), with L = the longest row. Position ids
    restart at 0 for every example (transformers derives block-diagonal attention from the resets);
    padding sits at the end of a row with IGNORE labels. packing=False puts one example per row.
    """
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i][0]))
    rows: list[list[int]] = []                      # example indices per row
    room: list[int] = []
    for i in order:
        n = len(examples[i][0])
        slot = next((r for r, free in enumerate(room) if free >= n), None) if packing else None
        if slot is None:
            rows.append([])
            room.append(length)
            slot = len(rows) - 1
        rows[slot].append(i)
        room[slot] -= n
    width = max(length - free for free in room)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for r, members in enumerate(rows):
        at = n = 0
        for i in members:
            e_ids, e_lab = examples[i]
            ids[r, at:at + len(e_ids)] = torch.tensor(e_ids)
            labels[r, at:at + len(e_ids)] = torch.tensor(e_lab)
            pos[r, at:at + len(e_ids)] = torch.arange(len(e_ids))
            at, n = at + len(e_ids), len(e_ids)
        pos[r, at:] = torch.arange(n, n + width - at)   # pads continue the last example (after it: causal)
    return ids, labels, pos


def check_assistant_mask(examples: list[tuple[list[int], list[int]]]) -> None:
    """Every example must train on at least one token (guards the 'assistant mask all zero' failure)."""
    for i, (_ids, labels) in enumerate(examples):
        if not any(x != IGNORE for x in labels):
            raise RuntimeError(f"example {i} has no completion token to train on (assistant mask all zero)")


def encode_dataset(render, tok, examples: list[Example], max_length: int, log=print) -> list:
    """Encode all examples; drop (and count) those longer than max_length tokens."""
    enc, dropped = [], 0
    for ex in examples:
        ids, labels = encode_example(render, tok, ex)
        if len(ids) > max_length:
            dropped += 1
            continue
        enc.append((ids, labels))
    if dropped:
        log(f"sft: dropped {dropped} of {len(examples)} examples longer than data.max_length={max_length} tokens")
    if not enc:
        raise UserError(f"config key 'data.max_length': no example fits in {max_length} tokens")
    check_assistant_mask(enc)
    return enc


def step_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """Example indices of optimizer step `step` (1-based): a pure function of (seed, step), so a
    resumed run replays nothing and skips nothing. Each epoch is a fresh permutation."""
    per_epoch = math.ceil(n / batch_size)
    epoch, k = divmod(step - 1, per_epoch)
    perm = list(range(n))
    random.Random(f"sft-{seed}-{epoch}").shuffle(perm)
    return perm[k * batch_size:(k + 1) * batch_size]
