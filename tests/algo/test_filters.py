"""DAPO filters: the dynamic-sampling group filter and the soft overlong penalty, by hand."""
import math

import torch

from reasonrl.algo.filters import mixed_groups, soft_overlong_penalty


def test_mixed_groups():
    nan = math.nan
    acc = torch.tensor([[1.0, 1.0, 1.0],      # all correct -> dropped
                        [0.0, 0.0, 0.0],      # all wrong -> dropped
                        [0.0, 1.0, 0.0],      # mixed -> kept
                        [1.0, 0.0, 0.0],      # mixed, the first one differs -> kept
                        [nan, 0.0, nan],      # nan counts as 0: all wrong -> dropped
                        [nan, 1.0, 0.0]])     # nan = 0 against a 1 -> kept
    assert mixed_groups(acc).tolist() == [False, False, True, True, False, True]


def test_soft_overlong_penalty_hand_values():
    # max_len 20, buffer 8: free up to 12, then -penalty * (len - 12) / 8, -penalty from 20 on
    lengths = torch.tensor([5, 12, 13, 16, 20, 25])
    out = soft_overlong_penalty(lengths, max_len=20, buffer=8, penalty=0.5)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, -0.0625, -0.25, -0.5, -0.5]), atol=1e-7, rtol=0)
    assert out.dtype == torch.float32
    # default penalty 1
    torch.testing.assert_close(soft_overlong_penalty(lengths, max_len=20, buffer=8),
                               torch.tensor([0.0, 0.0, -0.125, -0.5, -1.0, -1.0]), atol=1e-7, rtol=0)


def test_soft_overlong_penalty_one_token_buffer():
    out = soft_overlong_penalty(torch.tensor([18, 19, 20]), max_len=20, buffer=1, penalty=2.0)
    assert out.tolist() == [0.0, 0.0, -2.0]


def test_soft_overlong_penalty_off_without_buffer():
    for buffer in (0, -3):
        out = soft_overlong_penalty(torch.tensor([5, 30]), max_len=20, buffer=buffer)
        assert out.dtype == torch.float32 and out.tolist() == [0.0, 0.0]
