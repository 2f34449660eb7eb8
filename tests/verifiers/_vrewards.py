"""User rewards loaded by 'module:function' in the reward API tests."""
from reasonrl.verifiers.context import batched

SEEN = []


def difficulty_bonus(ctx):
    """Reads an extra dataset column; not applicable to rows without it."""
    SEEN.append(ctx)
    if "difficulty" not in ctx.row:
        return None
    return 0.5 if ctx.row["difficulty"] == "hard" else 0.0


@batched
def length_rank(ctxs):
    """Batched: 1 for the shortest completion of the batch, 0 for the rest."""
    shortest = min(len(c.completion) for c in ctxs)
    return [1.0 if len(c.completion) == shortest else 0.0 for c in ctxs]


async def async_truncation(ctx):
    return 0.0 if ctx.truncated else 1.0


def legacy(completion, sample):
    return float(sample.answer in completion)


def buggy(ctx):
    if ctx.index == 1:
        raise RuntimeError("boom")
    return "not a number" if ctx.index == 2 else 1.0


not_callable = 3
