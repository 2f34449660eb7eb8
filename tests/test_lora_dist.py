"""LoRA under torchrun (gloo, CPU): 2 processes, each holding half of the groups of a fixed global
RolloutBatch, take the same optimizer step on the LoRA adapters as one process holding all of it
(within 1e-6); on every rank the KL reference is the frozen base, the adapters start identical, and
only the adapters' gradients are reduced (reasonrl.dist.all_reduce_grads skips frozen parameters).

The same file is the worker: `python -m torch.distributed.run --nproc_per_node=2 tests/test_lora_dist.py OUT`.
The batches, cases and the reason for SGD / AdamW at these learning rates are those of tests/test_dist.py.
"""
import copy
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))      # the worker runs as a script: find test_dist
from test_dist import B, CASES, T, _batch, launch  # noqa: E402

from reasonrl.algo.presets import resolve_algo  # noqa: E402
from reasonrl.config import AlgoConfig, load_config  # noqa: E402
from reasonrl.models import build_char_tokenizer, build_tiny_model  # noqa: E402
from reasonrl.train.collect import select_groups  # noqa: E402
from reasonrl.train.update import policy_update  # noqa: E402

pytest.importorskip("peft")
from test_lora import random_adapters  # noqa: E402

from reasonrl.scale import lora  # noqa: E402

LORA = ["model.lora_r=4", "model.lora_alpha=8"]


def _base():
    tok = build_char_tokenizer()
    return build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)


def _policy_and_ref():
    """(LoRA policy, frozen base reference): r=4 adapters on q/k/v/o with lora_B drawn from a fixed
    generator (peft starts it at 0: then lora_A gets no gradient and policy == reference)."""
    model = _base()
    ref = copy.deepcopy(model).requires_grad_(False).eval()      # copied before wrapping, as rl.setup does
    return random_adapters(model, 0.1), ref


def _step(case: str, batch) -> tuple[dict, list[str]]:
    """One policy_update with the LoRA policy -> (adapter parameters after the step, problems seen)."""
    preset, opt_name, _ = CASES[case]
    policy, ref = _policy_and_ref()
    algo = resolve_algo(AlgoConfig(preset=preset))
    params = lora.trainable(policy)
    opt = torch.optim.SGD(params, lr=0.5) if opt_name == "sgd" else torch.optim.AdamW(params, lr=1e-3)
    policy_update(policy, ref if algo.beta > 0 else None, opt, batch, algo, max_new_tokens=T,
                  micro_batch_size=2, max_grad_norm=1.0 if opt_name == "adamw" else 1e9, step_seed=0)
    problems = [f"{n}: frozen parameter got a gradient" for n, p in policy.named_parameters()
                if not p.requires_grad and p.grad is not None]
    base = _base().state_dict()
    if any(not torch.equal(p, base[n]) for n, p in ref.named_parameters()):
        problems.append("reference moved or is not the base")
    return {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}, problems


def _setup_checks(out: Path) -> list[str]:
    """rl.setup with model.lora_r on this rank: the reference is the plain embedded base bit for bit,
    the policy's base weights too, and the adapters are identical on every rank."""
    from safetensors.torch import load_file

    from reasonrl import dist
    from reasonrl.models import resolve_model_path
    from reasonrl.train import rl

    cfg = load_config(None, LORA + ["model.device=cpu", "algo.preset=grpo", f"out={out / 'run'}"])
    model, _tok, ref, _opt, _sched, _start = rl.setup(cfg, lambda *a, **k: None)
    base = load_file(str(resolve_model_path("embedded") / "model.safetensors"))
    problems = []
    if ref is None or lora.is_lora(ref) or any(not torch.equal(p, base[n]) for n, p in ref.named_parameters()):
        problems.append("reference is not the frozen base")
    for n, p in model.get_base_model().named_parameters():
        if "lora_" not in n and not torch.equal(p, base[n.replace(".base_layer", "")]):
            problems.append(f"policy base weight {n} differs from the base")
    mine = torch.cat([p.detach().flatten() for p in lora.trainable(model)])
    every = dist.all_gather_cat(mine[None])
    if not all(torch.equal(every[0], x) for x in every):
        problems.append("adapters differ between ranks")
    return problems


def worker(out: Path) -> None:
    from reasonrl import dist
    torch.set_num_threads(1)
    assert dist.init("cpu")
    tok = build_char_tokenizer()
    r, w = dist.rank(), dist.world_size()
    problems = _setup_checks(out)
    for case, (_, _, rewards) in CASES.items():
        mine = select_groups(_batch(tok, rewards), torch.arange(B)[r * B // w:(r + 1) * B // w])  # whole groups
        params, seen = _step(case, mine)
        problems += [f"{case}: {x}" for x in seen]
        if dist.is_main():
            torch.save(params, out / f"{case}.pt")
    (out / f"rank-{r}.json").write_text(json.dumps(problems))
    dist.close()


def test_lora_two_ranks_match_one_process(tmp_path):
    launch(__file__, tmp_path)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank-{rank}.json").read_text()) == [], rank
    tok = build_char_tokenizer()
    torch.set_num_threads(1)
    start = {n: p.detach() for n, p in _policy_and_ref()[0].named_parameters() if p.requires_grad}
    for case, (_, _, rewards) in CASES.items():
        one, problems = _step(case, _batch(tok, rewards))
        two = torch.load(tmp_path / f"{case}.pt")
        assert problems == [] and one.keys() == two.keys() == start.keys()
        moved = max((one[k] - start[k]).abs().max().item() for k in one)
        diff = max((one[k] - two[k]).abs().max().item() for k in one)
        print(f"lora {case}: max |2 ranks - 1 process| = {diff:.2e} over {len(one)} adapter tensors, "
              f"largest adapter change = {moved:.2e}")
        assert moved > 5e-4, (case, moved)
        assert diff < 1e-6, (case, diff)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
