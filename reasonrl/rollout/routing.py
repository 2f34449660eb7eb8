"""Mixture-of-experts routers of HF models: routing replay and router telemetry, through forward hooks.

In transformers 5 every MoE block of the supported families calls a router module (`ROUTERS`) that
returns (router_logits (n, E), gate weights (n, k), expert indices (n, k)) for the block's n tokens
(the batch flattened row-major), and its experts take those indices and weights. A forward hook on
the router can therefore read the choice (record, telemetry) and replace it (replay).

Replay keeps the router trainable, as rollout routing replay (R3) does: only the discrete choice is
replayed; the gate weights are recomputed from the current router logits at the replayed indices
(`gate_weights`), so the policy gradient still reaches the router. A token whose recorded choice is
-1 (none recorded: pads, the last sampled token) keeps the router's own choice.

Layer l of a routing table is the l-th MoE block in module order (DeepSeek-V3's leading dense layers
have no router and no column). A model without any of these routers gets no hook at all
(`RouterHooks.of` returns None), so dense models pay nothing.
"""
from __future__ import annotations

import torch

from reasonrl.errors import ConfigError

# router class -> how its gate weights follow from its logits (kinds in gate_weights)
ROUTERS = {"Qwen3MoeTopKRouter": "softmax", "Qwen2MoeTopKRouter": "softmax", "OlmoeTopKRouter": "softmax",
           "MixtralTopKRouter": "softmax", "DeepseekV3TopkRouter": "sigmoid", "Glm4MoeTopkRouter": "sigmoid"}


def routers(model) -> list[torch.nn.Module]:
    """The model's MoE routers in module (= layer) order; [] for a dense model."""
    return [m for m in model.modules() if type(m).__name__ in ROUTERS]


def gate_weights(router, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The gate weights `router` gives experts idx (n, k) from its logits (n, E) -> (n, k) float32.
    softmax routers (Qwen2/3-MoE, OLMoE, Mixtral): softmax over all experts, renormalized over the k
    chosen when norm_topk_prob (Mixtral always); sigmoid routers (DeepSeek-V3, GLM-4.5): sigmoid
    scores (the selection-only correction bias and group limit play no part), renormalized when
    norm_topk_prob, times routed_scaling_factor."""
    if ROUTERS[type(router).__name__] == "softmax":
        w = logits.float().softmax(dim=-1).gather(1, idx)
        return w / w.sum(dim=-1, keepdim=True) if getattr(router, "norm_topk_prob", True) else w
    w = logits.float().sigmoid().gather(1, idx)
    if router.norm_topk_prob:
        w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
    return w * router.routed_scaling_factor


def router_probs(router, logits: torch.Tensor) -> torch.Tensor:
    """The router's distribution over experts (n, E) -> (n, E): its softmax, or its sigmoid scores
    normalized to sum to 1 (what router entropy is measured on)."""
    if ROUTERS[type(router).__name__] == "softmax":
        return logits.float().softmax(dim=-1)
    s = logits.float().sigmoid()
    return s / s.sum(dim=-1, keepdim=True)


def replace_choice(fresh: torch.Tensor, recorded: torch.Tensor) -> torch.Tensor:
    """Per token, the recorded experts (n, k) where every slot is recorded (>= 0), else the fresh ones."""
    have = (recorded >= 0).all(dim=-1, keepdim=True)
    return torch.where(have, recorded.to(fresh.dtype), fresh)


class RouterHooks:
    """Forward hooks on a model's routers; `with hooks:` installs them, leaving removes them.

    While installed, each router call (n tokens) does what these attributes ask:
      record: (N, W, L, k) table (-1 = none; int16 unless there are 2**15 experts) that the calls fill: `rows` (the original rows
        present in the call, default all) and `col` (the table column of the call's first position,
        advanced after the last layer) place them; a prefill of s positions fills s columns.
      replay: (n, L, k) long, the experts to use instead of the router's top-k (-1 = keep its own).
      mask: (n,) bool, the tokens the telemetry counts in the next forward (None = no telemetry).
    Telemetry sums (per MoE layer): expert assignments `load` (L, E), router entropy and tokens, and
    with replay the tokens whose replayed experts differ from the router's own top-k."""

    def __init__(self, mods: list[torch.nn.Module]):
        self.mods = mods
        self.n_experts = int(mods[0].num_experts)
        self.top_k = int(mods[0].top_k)
        self.record: torch.Tensor | None = None
        self.rows: torch.Tensor | None = None
        self.col = 0
        self.replay: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.sums: dict[str, torch.Tensor] = {}
        self._handles: list = []

    @classmethod
    def of(cls, model) -> RouterHooks | None:
        """Hooks for `model`'s routers, or None when it has none (dense)."""
        mods = routers(model)
        return cls(mods) if mods else None

    def __enter__(self):
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.mods)]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []

    def start_record(self, n: int, width: int, device) -> None:
        """Record the next forwards of n rows into a fresh (n, width, L, k) table, from column 0 (int16 on
        the model's device while decoding: a quarter of a long table's memory)."""
        dtype = torch.int16 if self.n_experts < 2 ** 15 else torch.long
        self.record = torch.full((n, width, len(self.mods), self.top_k), -1, dtype=dtype, device=device)
        self.rows, self.col = None, 0

    def take_record(self, mask: torch.Tensor) -> torch.Tensor:
        """The recorded table cut or padded (-1) to mask's (N, W) and -1 where mask is 0 (pads);
        -> (N, W, L, k) long, on the CPU (the update moves each micro-batch's slice). Stops recording."""
        rec, w = self.record.to("cpu", torch.long), mask.shape[1]
        self.record = self.rows = None
        if rec.shape[1] < w:
            rec = torch.nn.functional.pad(rec, (0, 0, 0, 0, 0, w - rec.shape[1]), value=-1)
        rec = rec[:, :w]
        return rec.masked_fill(~mask.bool().cpu()[:, :, None, None], -1)

    def _hook(self, layer: int):
        def hook(module, _args, out):
            logits, weights, idx = out
            fresh = idx
            if self.replay is not None:
                idx = replace_choice(fresh, self.replay[:, layer].to(idx.device))
                weights = gate_weights(module, logits, idx).to(weights.dtype)
            with torch.no_grad():
                if self.record is not None:
                    self._write(layer, idx)
                if self.mask is not None:
                    self._count(layer, module, logits, fresh, idx)
            return logits, weights, idx
        return hook

    def _write(self, layer: int, idx: torch.Tensor) -> None:
        n = self.record.shape[0] if self.rows is None else self.rows.numel()
        s = idx.shape[0] // n
        rows = slice(None) if self.rows is None else self.rows
        self.record[rows, self.col:self.col + s, layer] = idx.view(n, s, -1).to(self.record.dtype)
        if layer == len(self.mods) - 1:
            self.col += s

    def _count(self, layer: int, module, logits, fresh, idx) -> None:
        m = self.mask.to(idx.device)
        if not self.sums:
            n_layers, dev = len(self.mods), idx.device
            self.sums = {"load": torch.zeros(n_layers, self.n_experts, dtype=torch.float64, device=dev),
                         "entropy": torch.zeros(n_layers, dtype=torch.float64, device=dev),
                         "tokens": torch.zeros(n_layers, dtype=torch.float64, device=dev),
                         "flips": torch.zeros(n_layers, dtype=torch.float64, device=dev)}
        chosen = idx[m]
        self.sums["load"][layer] += torch.bincount(chosen.flatten(), minlength=self.n_experts).double()
        p = router_probs(module, logits.detach()[m])
        self.sums["entropy"][layer] += -(p * p.clamp_min(1e-30).log()).sum().double()
        self.sums["tokens"][layer] += float(chosen.shape[0])
        if self.replay is not None:
            differ = (fresh[m].sort(dim=-1).values != chosen.sort(dim=-1).values).any(dim=-1)
            self.sums["flips"][layer] += differ.sum().double()
        if layer == len(self.mods) - 1:      # one forward per scope: a checkpointed layer's recompute is not counted
            self.mask = None

    def take_sums(self) -> list[float]:
        """The telemetry sums as one flat list (load, entropy, tokens, flips; zeros when nothing was
        counted) for summing over ranks; resets them."""
        n_layers = len(self.mods)
        if not self.sums:
            return [0.0] * (n_layers * (self.n_experts + 3))
        out = torch.cat([self.sums[k].flatten() for k in ("load", "entropy", "tokens", "flips")]).tolist()
        self.sums = {}
        return out


def telemetry(flat: list[float], n_layers: int, n_experts: int, replay: bool) -> dict:
    """Step metrics from RouterHooks.take_sums (summed over ranks). load share of expert e in layer l
    = assignments to e / all assignments of l; imbalance = max_e share * E (1 = even, E/k = all tokens
    on the same k experts). moe/load_max: the worst layer's imbalance (moe/load_max_layer: which);
    moe/load_cv: the coefficient of variation of the shares, mean over layers; moe/router_entropy: mean
    entropy (nats) of the router's distribution over real tokens and layers (max log E); moe/dropped_tokens:
    0, the HF blocks send every token to its k experts (no capacity limit); moe/replay_flips (with
    replay): share of (token, layer) choices where the replayed experts differ from the router's top-k."""
    t = torch.tensor(flat, dtype=torch.float64)
    load = t[:n_layers * n_experts].view(n_layers, n_experts)
    ent, tokens, flips = t[n_layers * n_experts:].view(3, n_layers)
    if tokens.sum() == 0:
        return {}
    share = load / load.sum(dim=1, keepdim=True).clamp_min(1.0)
    imbalance = share.max(dim=1).values * n_experts
    cv = share.std(dim=1, unbiased=False) / share.mean(dim=1).clamp_min(1e-12)
    out = {"moe/load_max": float(imbalance.max()), "moe/load_max_layer": int(imbalance.argmax()),
           "moe/load_cv": float(cv.mean()), "moe/router_entropy": float(ent.sum() / tokens.sum()),
           "moe/dropped_tokens": 0.0}
    if replay:
        out["moe/replay_flips"] = float(flips.sum() / tokens.sum())
    return out


def replay_hooks(model, routing_replay: bool) -> RouterHooks | None:
    """The router hooks that record each token's experts when rollout.routing_replay is on (None when
    off); a model without a supported MoE router is a ConfigError."""
    if not routing_replay:
        return None
    hooks = RouterHooks.of(model)
    if hooks is None:
        raise ConfigError(f"config key 'rollout.routing_replay': the policy ({type(model).__name__}) has no "
                          f"mixture-of-experts router to replay (supported: {', '.join(sorted(ROUTERS))}); "
                          "set it to false")
    return hooks
