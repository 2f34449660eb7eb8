"""Data parallel under torchrun (gloo, CPU): 2 processes, each holding half of the groups of a fixed
global RolloutBatch, take the same optimizer step as one process holding all of it (within 1e-6).

The same file is the worker: `python -m torch.distributed.run --nproc_per_node=2 tests/test_dist.py OUT`.
SGD with a large learning rate is used besides AdamW because Adam's first step is ~lr * sign(grad) and
would hide a wrong loss normalizer; SGD's step is the gradient itself (and SGD runs without clipping,
which would hide it too). AdamW runs at lr 1e-3: its first
step lr * g / (|g| + eps) amplifies float32 rounding of gradients near eps by up to lr / eps, so at lr
1e-2 two exact-in-math runs already differ by ~1e-6.
"""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reasonrl.algo.logprobs import completion_mask
from reasonrl.algo.presets import resolve_algo
from reasonrl.config import AlgoConfig
from reasonrl.models import build_char_tokenizer, build_tiny_model
from reasonrl.train.collect import select_groups
from reasonrl.train.update import policy_update
from reasonrl.types import Generations, RolloutBatch

B, G, T = 4, 3, 6
# case name -> (preset, optimizer, rewards of the B groups); in "empty_rank" rank 1's groups have equal
# rewards, so with skip_zero_variance it has no row to train on and must still join every reduction
CASES = {"grpo_sgd": ("grpo", "sgd", [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]),
         "dapo_adamw": ("dapo", "adamw", [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]),
         "dr_grpo_sgd_empty_rank": ("dr_grpo", "sgd", [[1, 0, 0], [0, 1, 1], [1, 1, 1], [0, 0, 0]])}


def _batch(tok, rewards) -> RolloutBatch:
    """A fixed batch of B groups x G samples: random tokens, lengths 2..T, left-padded prompts."""
    gen = torch.Generator().manual_seed(3)
    n = B * G
    comp = torch.full((n, T), tok.pad_token_id)
    for i in range(n):
        length = 2 + i % (T - 1)
        comp[i, :length] = torch.randint(10, 60, (length,), generator=gen)
        comp[i, length - 1] = tok.eos_token_id
    cmask, trunc = completion_mask(comp, [tok.eos_token_id])
    prompt = torch.randint(10, 60, (n, 4), generator=gen)
    pmask = torch.ones(n, 4, dtype=torch.long)
    pmask[::2, 0] = 0
    prompt[::2, 0] = tok.pad_token_id
    r = torch.tensor(rewards, dtype=torch.float).flatten()
    from reasonrl.algo.advantages import group_zscore
    return RolloutBatch([None] * B, G, Generations(prompt, pmask, comp, cmask, trunc, [""] * n), r, {},
                        group_zscore(r.view(B, G)).flatten(), [""] * n)


def _step(case: str, batch: RolloutBatch, shard: bool = False) -> dict:
    """One policy_update on `batch` from the fixed initial model; returns the new parameters (the full
    ones on rank 0 when `shard`: policy and reference sharded with FSDP2)."""
    from reasonrl.scale import fsdp
    preset, opt_name, _ = CASES[case]
    tok = build_char_tokenizer()
    model = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0)
    ref = copy.deepcopy(model).eval()
    if shard:
        model, ref = fsdp.shard(model), fsdp.shard(ref)
    algo = resolve_algo(AlgoConfig(preset=preset))
    opt = (torch.optim.SGD(model.parameters(), lr=0.5) if opt_name == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=1e-3))
    policy_update(model, ref if algo.beta > 0 else None, opt, batch, algo, max_new_tokens=T,
                  micro_batch_size=2, max_grad_norm=1.0 if opt_name == "adamw" else 1e9, step_seed=0)
    return fsdp.full_state(model) if shard else {k: v.detach().clone() for k, v in model.state_dict().items()}


def launch(*argv) -> str:
    """Run `python ARGV...` (a script and its arguments, or "-m", a module, ...) as 2 gloo processes under
    torchrun; fail with the workers' stderr; -> their stdout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *map(str, argv)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def worker(out: Path, shard: bool = False) -> None:
    from reasonrl import dist
    torch.set_num_threads(1)
    assert dist.init("cpu")
    tok = build_char_tokenizer()
    r, w = dist.rank(), dist.world_size()
    for case, (_, _, rewards) in CASES.items():
        full = _batch(tok, rewards)
        mine = select_groups(full, torch.arange(B)[r * B // w:(r + 1) * B // w])   # whole groups per rank
        params = _step(case, mine, shard)
        if dist.is_main():
            torch.save(params, out / f"{case}.pt")
    dist.close()


@pytest.mark.parametrize("shard", [False, True], ids=["replicated", "fsdp2"])
def test_two_ranks_match_one_process(tmp_path, shard):
    """Plain data parallel, and FSDP2 (sharded policy and reference; in the empty-rank case rank 1 runs
    only the zero-weight passes that keep FSDP's collectives in step)."""
    launch(__file__, tmp_path, *(["fsdp"] if shard else []))
    tok = build_char_tokenizer()
    torch.set_num_threads(1)
    for case, (_, _, rewards) in CASES.items():
        one = _step(case, _batch(tok, rewards))
        two = torch.load(tmp_path / f"{case}.pt")
        start = build_tiny_model(len(tok), hidden=32, layers=2, heads=2, intermediate=64, seed=0).state_dict()
        moved = max((one[k] - start[k]).abs().max().item() for k in one)
        diff = max((one[k] - two[k]).abs().max().item() for k in one)
        print(f"{case} ({'fsdp2' if shard else 'replicated'}): max |2 ranks - 1 process| = {diff:.2e}, "
              f"largest parameter change = {moved:.2e}")
        assert set(one) == set(two)
        assert moved > 5e-4, (case, moved)          # the step did something (AdamW: ~lr)
        assert diff < 1e-6, (case, diff)



def test_metric_reduction_rules_and_one_process_noops():
    from reasonrl import dist
    assert [dist._rule(k) for k in ("len/max", "time/step_s", "ratio/min", "tokens/generated", "flops/update",
                                     "sampling/draws", "reward/mean")] == ["max", "max", "min", "sum", "sum",
                                                                             "sum", "mean"]
    m = {"reward/mean": 0.5, "tokens/generated": 3}
    assert dist.reduce_metrics(m) is m and dist.all_reduce([1.0, 2.0]) == [1.0, 2.0] and not dist.any_rank(False)
    assert dist.world_size() == 1 and dist.is_main()

if __name__ == "__main__":
    worker(Path(sys.argv[1]), shard="fsdp" in sys.argv[2:])
