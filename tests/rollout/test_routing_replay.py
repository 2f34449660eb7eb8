"""MoE routing replay and router telemetry (reasonrl/rollout/routing.py): the hf and fast backends record
each token's experts, the update's forwards replay them, on tiny random Qwen3-MoE and DeepSeek-V3
models built from their transformers configs (tests/models/_families.py)."""
import copy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _families import SPECS, build_model, build_tokenizer  # noqa: E402

from reasonrl.config import RolloutConfig  # noqa: E402
from reasonrl.errors import ConfigError  # noqa: E402
from reasonrl.rollout import cat_generations, make_backend  # noqa: E402
from reasonrl.rollout.fast import FastBackend  # noqa: E402
from reasonrl.rollout.routing import ROUTERS, RouterHooks, gate_weights, telemetry  # noqa: E402
from reasonrl.algo.logprobs import sequence_logprobs  # noqa: E402
from reasonrl.train.update import _forward_logp, _routed, build_inputs  # noqa: E402
from reasonrl.types import Generations  # noqa: E402

PROMPTS = ["What is 12 + 7?", "Hi"]
REPLAY = RolloutConfig(routing_replay=True)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["qwen3-moe", "deepseek-v3"])
def moe(request):
    spec = SPECS[request.param]
    tok = build_tokenizer(spec)
    return build_model(spec, tok).eval(), tok


def _sample(model, tok, eos=None, **kw):
    """4 rows (2 prompts x 2) from the fast backend with replay on. eos: a wide EOS set so rows end at
    different steps and the decode batch is compacted (the recording must follow the live rows)."""
    torch.manual_seed(0)
    return FastBackend(model, tok, eos=eos, routing_replay=True).generate(PROMPTS, n=2, max_new_tokens=10, **kw)


def _train_logp(model, gen, replay: bool, micro: int = 4):
    """The update's no-grad logprob pass over the sampled rows -> (logp, loss mask), both (N, T)."""
    ids, attn, mask, p = build_inputs(SimpleNamespace(gen=gen))
    routing = gen.routing[:, :ids.shape[1]] if replay else None
    return _forward_logp(model, ids, attn, p, gen.temperature, micro, routing=routing), mask


def _gap(logp, gen, mask) -> float:
    """max |trainer - sampler| logprob over the loss tokens."""
    return float(((logp - gen.sampler_logp[:, :mask.shape[1]]).abs() * mask).max())


def test_fast_records_every_fed_token_and_replay_reproduces_the_samplers_logprobs(moe):
    model, tok = moe
    gen = _sample(model, tok, eos=list(range(3, len(tok), 4)))
    n_layers = len(RouterHooks.of(model).mods)          # Qwen3-MoE: 2 MoE layers; DeepSeek-V3: 1 (layer 0 dense)
    lengths = gen.completion_mask.sum(1)
    assert gen.routing.shape == (4, gen.prompt_ids.shape[1] + gen.completion_ids.shape[1], n_layers, 2)
    assert len(set(lengths.tolist())) > 1, "rows should end at different steps (compaction path)"
    full = torch.cat([gen.prompt_mask, gen.completion_mask], 1).bool()
    recorded = (gen.routing >= 0).all(-1).all(-1)
    # pads are never recorded; every real token but the last sampled one (never fed back) is
    assert not recorded[~full].any()
    assert (recorded.sum(1) == full.sum(1) - 1).all()
    logp, mask = _train_logp(model, gen, replay=True, micro=3)   # micro-batches of 3 and 1 rows
    assert _gap(logp, gen, mask) < 1e-5


def test_hf_records_the_same_experts_as_fast(moe):
    model, tok = moe
    fast = _sample(model, tok, greedy=True)
    hf = make_backend("hf", model, tok, REPLAY).generate(PROMPTS, n=2, max_new_tokens=10, greedy=True)
    assert torch.equal(hf.completion_ids, fast.completion_ids)
    both = (hf.routing >= 0) & (fast.routing >= 0)
    assert both.sum() > 0.9 * (fast.routing >= 0).sum()
    # the experts are a set (DeepSeek-V3's top-k is unsorted): compare them sorted
    assert torch.equal(hf.routing.sort(-1).values[both.all(-1)], fast.routing.sort(-1).values[both.all(-1)])


def test_without_replay_a_changed_choice_changes_the_logprobs_and_replay_restores_them():
    """DeepSeek-V3's e_score_correction_bias moves only the choice of experts, never their gate
    weights (gate_weights: sigmoid of the logits). A bias of +1 on experts 0 and 1 (sigmoid scores are
    in (0, 1)) makes every token pick {0, 1}: the trainer's own routing differs from the sampler's for
    every token that chose another pair, so without replay the logprobs move; with replay the sampler's
    choice and the unchanged weights give back the sampler's logprobs exactly."""
    spec = SPECS["deepseek-v3"]
    tok = build_tokenizer(spec)
    model = build_model(spec, tok).eval()
    gen = _sample(model, tok)
    moved = copy.deepcopy(model)
    (router,) = RouterHooks.of(moved).mods
    router.e_score_correction_bias.copy_(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    full = torch.cat([gen.prompt_mask, gen.completion_mask], 1).bool()
    chosen = gen.routing[:, :, 0].sort(-1).values                       # (N, P+T, 2)
    other = full & (chosen >= 0).all(-1) & (chosen != torch.tensor([0, 1])).any(-1)
    assert other.sum() > 10, "the sampler should have chosen other pairs than {0, 1} for many tokens"
    replayed, mask = _train_logp(moved, gen, replay=True)
    fresh, _ = _train_logp(moved, gen, replay=False)
    assert _gap(replayed, gen, mask) < 1e-5
    assert _gap(fresh, gen, mask) > 1e-3


def test_replay_flips_count_each_replayed_choice_that_differs():
    """Qwen3-MoE (4 experts, top-2): replaying each token's experts shifted by one ((e + 1) mod 4) gives
    another pair for every token (no 2-element set of Z/4 is shift-invariant), so the share of flipped
    (token, layer) choices is the share of real tokens with a recorded choice: all but the last
    completion token of each row."""
    spec = SPECS["qwen3-moe"]
    tok = build_tokenizer(spec)
    model = build_model(spec, tok).eval()
    gen = _sample(model, tok)
    shifted = torch.where(gen.routing >= 0, (gen.routing + 1) % 4, gen.routing)
    ids, attn, mask, p = build_inputs(SimpleNamespace(gen=gen))
    hooks = RouterHooks.of(model)
    hooks.replay, hooks.mask = shifted[:, :ids.shape[1]].flatten(0, 1), attn.flatten().bool()
    with hooks, torch.no_grad():
        model(input_ids=ids, attention_mask=attn, use_cache=False)
    out = telemetry(hooks.take_sums(), 2, 4, replay=True)
    real, recorded = int(attn.sum()), int((shifted[:, :ids.shape[1]] >= 0).all(-1).all(-1).sum())
    assert recorded == real - 4
    assert out["moe/replay_flips"] == pytest.approx(recorded / real, abs=1e-12)
    ordinary, _ = _train_logp(model, gen, replay=True)
    gen_shifted = Generations(**{**gen.__dict__, "routing": shifted})
    assert _gap(_train_logp(model, gen_shifted, replay=True)[0], gen, mask) > 1e-3
    assert _gap(ordinary, gen, mask) < 1e-5


def test_replay_under_gradient_checkpointing_same_gradients_router_trained_counted_once():
    """A checkpointed layer runs its forward again in the backward: the replayed experts must be used
    there too (else the gradients change), and the telemetry must not count that second forward."""
    spec = SPECS["deepseek-v3"]
    tok = build_tokenizer(spec)
    model = build_model(spec, tok).eval()
    gen = _sample(model, tok)
    RouterHooks.of(model).mods[0].e_score_correction_bias.copy_(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    ids, attn, mask, p = build_inputs(SimpleNamespace(gen=gen))
    grads, sums = [], []
    for checkpointing in (False, True):
        m = copy.deepcopy(model).train()
        if checkpointing:
            m.gradient_checkpointing_enable()
        hooks = RouterHooks.of(m)
        with _routed(hooks, gen.routing[:, :ids.shape[1]], attn, True):
            logp, _ = sequence_logprobs(m, ids, attn, p)
            (logp * mask).sum().backward()
        assert hooks.mods[0].weight.grad.abs().sum() > 0            # the router is trained through the weights
        grads.append(torch.cat([q.grad.flatten() for q in m.parameters() if q.grad is not None]))
        sums.append(hooks.take_sums())
    assert torch.equal(grads[0], grads[1])
    assert sums[0] == sums[1] and sums[0][-2] == attn.sum()        # tokens counted once: every real token


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_same_weights_sampler_and_trainer_route_alike_in_float32_not_always_in_bfloat16(dtype):
    """A larger random Qwen3-MoE (4 layers, 16 experts, top-4, hidden 128), 16 rows x 48 tokens: the
    share of (token, layer) choices where the trainer's full-sequence forward picks other experts than
    the sampler's prefill + one-token decode on the same weights, and the trainer-sampler logprob gap
    with and without replay. Printed with -s (figures in docs/model-families.md)."""
    import transformers

    tok = build_tokenizer(SPECS["qwen3-moe"])
    cfg = transformers.Qwen3MoeConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_experts=16,
                                      num_experts_per_tok=4, moe_intermediate_size=64, norm_topk_prob=True,
                                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(dtype).eval()
    torch.manual_seed(1)
    gen = FastBackend(model, tok, eos=[], routing_replay=True).generate(["What is 12 + 7? Think step by step."] * 4,
                                                                         n=4, max_new_tokens=48)
    ids, attn, mask, p = build_inputs(SimpleNamespace(gen=gen))
    hooks = RouterHooks.of(model)
    with torch.no_grad(), _routed(hooks, gen.routing[:, :ids.shape[1]], attn, True):
        model(input_ids=ids, attention_mask=attn, use_cache=False)
    flips = telemetry(hooks.take_sums(), 4, 16, replay=True)["moe/replay_flips"]
    gaps = {}
    for replay in (False, True):
        lp, _ = _train_logp(model, gen, replay, micro=16)
        d = (lp - gen.sampler_logp[:, :mask.shape[1]]).abs() * mask
        gaps[replay] = (float(d.max()), float(d.sum() / mask.sum()))
    print(f"\n{dtype}: choices the trainer's own top-k changes {flips:.4f}; |trainer - sampler| logprob max / mean: "
          f"no replay {gaps[False][0]:.2e} / {gaps[False][1]:.2e}, replay {gaps[True][0]:.2e} / {gaps[True][1]:.2e} "
          f"({int(mask.sum())} tokens)")
    if dtype == torch.float32:
        assert flips == 0.0 and gaps[True][0] < 1e-5
    else:           # bf16 rounding differs between the decode and the full forward: replay removes the flips' part
        assert flips > 0.0 and gaps[True][1] < gaps[False][1]


ROUTER_CONFIGS = {       # router class -> (transformers config class, module, tiny MoE kwargs)
    "Qwen3MoeTopKRouter": ("Qwen3MoeConfig", "qwen3_moe", dict(num_experts=6, num_experts_per_tok=2)),
    "Qwen2MoeTopKRouter": ("Qwen2MoeConfig", "qwen2_moe", dict(num_experts=6, num_experts_per_tok=2,
                                                               norm_topk_prob=False)),
    "OlmoeTopKRouter": ("OlmoeConfig", "olmoe", dict(num_experts=6, num_experts_per_tok=2)),
    "MixtralTopKRouter": ("MixtralConfig", "mixtral", dict(num_local_experts=6, num_experts_per_tok=2)),
    "DeepseekV3TopkRouter": ("DeepseekV3Config", "deepseek_v3", dict(n_routed_experts=6, num_experts_per_tok=2,
                                                                     n_group=2, topk_group=1)),
    "Glm4MoeTopkRouter": ("Glm4MoeConfig", "glm4_moe", dict(n_routed_experts=6, num_experts_per_tok=2,
                                                            n_group=1, topk_group=1)),
}


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_gate_weights_recomputed_at_the_routers_own_choice_equal_its_weights(name):
    import importlib

    import transformers

    cfg_name, module, kw = ROUTER_CONFIGS[name]
    cfg = getattr(transformers, cfg_name)(hidden_size=16, **kw)
    router = getattr(importlib.import_module(f"transformers.models.{module}.modeling_{module}"), name)(cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        router.weight.normal_()
        if hasattr(router, "e_score_correction_bias"):
            router.e_score_correction_bias.normal_(std=0.1)
    logits, weights, idx = router(torch.randn(7, 16))
    assert torch.allclose(gate_weights(router, logits, idx), weights.float(), atol=1e-6)


def test_telemetry_by_hand():
    # one layer, 4 experts, 4 tokens x top-2: assignments [4, 2, 2, 0] -> shares [.5, .25, .25, 0];
    # imbalance .5 * 4 = 2; cv = std / mean = sqrt((.0625 + 0 + 0 + .0625) / 4) / .25 = 0.7071068;
    # entropy sum 4.0 over 4 tokens = 1.0 nat; 1 of 4 choices flipped
    out = telemetry([4.0, 2.0, 2.0, 0.0, 4.0, 4.0, 1.0], n_layers=1, n_experts=4, replay=True)
    assert out["moe/load_max"] == 2.0 and out["moe/load_max_layer"] == 0
    assert out["moe/load_cv"] == pytest.approx(0.7071068, abs=1e-6)
    assert out["moe/router_entropy"] == 1.0 and out["moe/replay_flips"] == 0.25 and out["moe/dropped_tokens"] == 0
    # two layers: the worst one (layer 1, all on experts 0 and 1: shares [.5, .5, 0, 0], imbalance 2) is named
    two = telemetry([1, 1, 1, 1, 2, 2, 0, 0] + [0, 0] + [1, 1] + [0, 0], n_layers=2, n_experts=4, replay=False)
    assert (two["moe/load_max"], two["moe/load_max_layer"]) == (2.0, 1) and "moe/replay_flips" not in two
    assert telemetry([0.0] * 7, 1, 4, replay=False) == {}


def test_replay_needs_a_moe_policy_and_a_backend_that_records(tiny_lm, moe):
    dense, tok = tiny_lm
    assert RouterHooks.of(dense) is None            # dense: no hook is ever installed
    with pytest.raises(ConfigError) as e:
        make_backend("fast", dense, tok, REPLAY)
    assert "rollout.routing_replay" in str(e.value) and "\n" not in str(e.value)
    for name in ("server", "vllm"):
        with pytest.raises(ConfigError) as e:
            make_backend(name, *moe, REPLAY)
        assert "rollout.routing_replay" in str(e.value) and "\n" not in str(e.value)
    assert make_backend("fast", *moe).routing is None            # off by default: nothing recorded


def test_cat_generations_pads_routing_like_the_tokens():
    def gen(p, t, fill):
        return Generations(prompt_ids=torch.zeros(1, p, dtype=torch.long),
                           prompt_mask=torch.ones(1, p, dtype=torch.long),
                           completion_ids=torch.zeros(1, t, dtype=torch.long),
                           completion_mask=torch.ones(1, t, dtype=torch.long), truncated=torch.tensor([True]),
                           texts=[""], routing=torch.full((1, p + t, 1, 2), fill, dtype=torch.long))
    out = cat_generations([gen(2, 3, 5), gen(3, 1, 7)], pad_id=0)
    # widths P = 3, T = 3: row 0's prompt gets one -1 on the left; row 1's completion two -1 on the right
    assert out.routing[:, :, 0, 0].tolist() == [[-1, 5, 5, 5, 5, 5], [7, 7, 7, 7, -1, -1]]
