"""Cost ledger: what a run spent, in tokens, FLOPs, wall-clock per phase, device-hours and dollars,
beside the DeepSeek-R1 paper's own bill (about 147K H800 GPU-hours, about $294K at $2 per hour).

Each RL step logs its token counts and FLOP estimates (`step_cost`, keys `tokens/prompt`,
`tokens/trained`, `flops/generate`, `flops/logprobs`, `flops/update`) next to the phase timings
(`time/generate_s`, `time/reward_s`, `time/logprobs_s`, `time/update_s`, `time/eval_s`); the
ledger (`ledger_from_metrics`) sums a run's metrics.jsonl and prices it. Training writes it to
RUN_DIR/cost.json; `reasonrl report RUN_DIR --price-per-hour X --devices N` re-prices any run.

FLOPs are the usual estimate for a dense transformer (Kaplan et al. 2020): 2 x params per token for
a forward pass, 6 x params per token for forward + backward, counted on real (non-padding) tokens
and leaving out the attention term, so long-context runs cost more than the ledger says. Held-out
evaluation is timed but its FLOPs are not counted. Device-hours = wall-clock x devices; on a CPU run
the "device" is the machine. The price is an assumption you set, not a measurement.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

# DeepSeek-R1 (arXiv 2501.12948 v2, Supplementary B.4.4, Table 7): H800 GPU-hours at $2 per hour.
R1_REFERENCE = {"device": "H800", "price_per_hour": 2.0, "gpu_hours": 147_000, "usd": 294_000,
                "parts": {"R1-Zero RL": 101_000, "R1 RL": 41_000, "SFT data": 5_000}}
PHASES = ("generate", "reward", "logprobs", "update", "eval", "other")


def step_cost(generated, usage, n_params: int) -> dict:
    """Token counts and FLOP estimates of one RL step.

    generated: the RolloutBatch as sampled (gen.prompt_mask (N, P), gen.completion_mask (N, T));
    usage: what the policy update reported it trained on (reasonrl.types.UpdateUsage: prompt +
    completion tokens of its rows, their loss tokens, epochs, and logprob passes without gradient)."""
    g = generated.gen
    gen_tokens = (g.prompt_mask.sum() + g.completion_mask.sum()).item()
    return {"tokens/prompt": int(g.prompt_mask.sum().item()),
            "tokens/trained": usage.loss_tokens * usage.epochs,
            "flops/generate": 2.0 * n_params * gen_tokens,
            "flops/logprobs": 2.0 * n_params * float(usage.seq_tokens) * usage.logprob_passes,
            "flops/update": 6.0 * n_params * float(usage.seq_tokens) * usage.epochs}


def device_label(model) -> str:
    """'cpu', or the accelerator's name, e.g. 'cuda (NVIDIA H200)'."""
    dev = next(model.parameters()).device
    if dev.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type


@dataclass(frozen=True)
class Ledger:
    steps: int
    tokens_generated: int
    tokens_prompt: int
    tokens_trained: int
    flops: dict = field(default_factory=dict)       # phase -> FLOPs
    seconds: dict = field(default_factory=dict)     # phase -> wall-clock seconds
    wall_s: float = 0.0
    devices: int = 1
    device: str = ""
    device_hours: float = 0.0
    price_per_hour: float = 2.0
    usd: float = 0.0
    n_params: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def flops_total(self) -> float:
        return sum(self.flops.values())


def _num(row: dict, key: str) -> float:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0


def _phase_seconds(row: dict) -> dict:
    """One metrics row's wall-clock per phase; time/update_s includes time/logprobs_s."""
    s = {"generate": _num(row, "time/generate_s"), "reward": _num(row, "time/reward_s"),
         "logprobs": _num(row, "time/logprobs_s"), "eval": _num(row, "time/eval_s")}
    s["update"] = max(_num(row, "time/update_s") - s["logprobs"], 0.0)
    s["other"] = max(_num(row, "time/step_s") - sum(s.values()), 0.0)
    return s


def ledger_from_metrics(rows: list[dict], *, n_params: int | None = None, devices: int = 1,
                        price_per_hour: float = R1_REFERENCE["price_per_hour"], device: str = "") -> Ledger:
    """Sum a run's metrics rows (metrics.jsonl) into a priced Ledger. Rows without FLOP keys are
    estimated from their generated tokens when n_params is known (noted in Ledger.notes)."""
    train = [r for r in rows if "reward/mean" in r or "time/generate_s" in r]
    seconds = dict.fromkeys(PHASES, 0.0)
    flops = dict.fromkeys(("generate", "logprobs", "update"), 0.0)
    notes, estimated = [], 0
    for r in rows:
        for k, v in _phase_seconds(r).items():
            seconds[k] += v
    for r in train:
        if any(k.startswith("flops/") for k in r):
            for k in flops:
                flops[k] += _num(r, f"flops/{k}")
        elif n_params:
            tok = _num(r, "tokens/generated") + _num(r, "tokens/prompt")
            flops["generate"] += 2.0 * n_params * tok
            flops["update"] += 6.0 * n_params * tok
            estimated += 1
    if estimated:
        notes.append(f"FLOPs of {estimated} step(s) estimated from generated tokens (one epoch, no logprob passes)")
    if train and not n_params and not any("flops/generate" in r for r in train):
        notes.append("FLOPs unknown: no flops/* keys and no parameter count")
    wall = sum(_num(r, "time/step_s") or sum(_phase_seconds(r).values()) for r in rows)
    hours = wall * devices / 3600.0
    return Ledger(steps=len(train), tokens_generated=int(sum(_num(r, "tokens/generated") for r in train)),
                  tokens_prompt=int(sum(_num(r, "tokens/prompt") for r in train)),
                  tokens_trained=int(sum(_num(r, "tokens/trained") for r in train)),
                  flops=flops, seconds=seconds, wall_s=wall, devices=devices, device=device,
                  device_hours=hours, price_per_hour=price_per_hour, usd=hours * price_per_hour,
                  n_params=n_params, notes=tuple(notes))


def params_from_safetensors(path: str | Path) -> int | None:
    """Parameter count read from a .safetensors header (no weights loaded); None if unreadable."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def ledger_rows(ledger: Ledger) -> list[tuple[str, str, str]]:
    """(item, this run, R1 paper) rows of the ledger table, for text and HTML."""
    ref = R1_REFERENCE
    fl = ledger.flops_total
    total_s = sum(ledger.seconds.values()) or 1.0
    phases = [(f"  {k}", f"{_fmt_seconds(v)} ({v / total_s:.0%})", "") for k, v in ledger.seconds.items() if v > 0]
    rows = [("steps", f"{ledger.steps:,}", ""),
            ("parameters", f"{ledger.n_params:,}" if ledger.n_params else "-", "671B (37B active)"),
            ("tokens generated", f"{ledger.tokens_generated:,}", ""),
            ("tokens trained (loss tokens x epochs)",
             f"{ledger.tokens_trained:,}" if ledger.tokens_trained else "-", ""),
            ("FLOPs (estimate, 2/6 x params x tokens)", f"{fl:.3g}" if fl else "-", ""),
            ("  of which generate / logprobs / update",
             " / ".join(f"{ledger.flops.get(k, 0):.2g}" for k in ("generate", "logprobs", "update")), ""),
            ("wall-clock", _fmt_seconds(ledger.wall_s), "~198 h (R1-Zero) + ~80 h (R1)"),
            *phases,
            ("devices", f"{ledger.devices} {ledger.device}".strip(), "512 H800 (64 x 8)"),
            ("device-hours", f"{ledger.device_hours:.4g}", f"{ref['gpu_hours']:,} GPU-h"),
            (f"price at ${ledger.price_per_hour:g}/device-hour", f"${ledger.usd:,.4g}",
             f"${ref['usd']:,} at ${ref['price_per_hour']:g}/h")]
    if ledger.usd > 0:
        rows.append(("share of the R1 bill", f"1 / {ref['usd'] / ledger.usd:,.3g}", "1"))
        rows.append(("tokens generated per $", f"{ledger.tokens_generated / ledger.usd:,.4g}", ""))
    if fl and ledger.wall_s > 0:
        rows.append(("achieved FLOP/s per device", f"{fl / ledger.wall_s / ledger.devices:.3g}", ""))
    return rows


def format_ledger(ledger: Ledger) -> str:
    """The ledger as an aligned text table (printed by `reasonrl report`)."""
    rows = [("cost ledger", "this run", "R1 paper")] + ledger_rows(ledger)
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:>{w1}}  {c}".rstrip() for a, b, c in rows]
    lines += [f"note: {n}" for n in ledger.notes]
    return "\n".join(lines)


def write_ledger(run_dir: str | Path, ledger: Ledger) -> Path:
    """Write RUN_DIR/cost.json (the ledger plus the R1 reference)."""
    path = Path(run_dir) / "cost.json"
    d = asdict(ledger)
    d["notes"] = list(ledger.notes)
    d["flops_total"] = ledger.flops_total
    d["r1_reference"] = R1_REFERENCE
    path.write_text(json.dumps(d, indent=2) + "\n")
    return path
