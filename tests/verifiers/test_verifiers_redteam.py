"""The red-team corpus (tests/verifiers/redteam): programs that try to earn the code reward without
solving their task. Every one must score 0 with the verdict status its manifest entry names."""
import collections
import json
from pathlib import Path

import pytest

from reasonrl.verifiers.codecheck import code_check_many
from reasonrl.verifiers.sandbox import Limits, isolation_level

HERE = Path(__file__).parent / "redteam"
CORPUS = json.loads((HERE / "manifest.json").read_text())
LIMITS = Limits(wall_s=3.0, cpu_s=1, memory_mb=512, procs=16, file_mb=4, output_kb=64, disk_mb=8)
CLASSES = {"result forgery", "always-equal / subclass", "reading the tests", "patching builtins / modules",
           "early exit", "exceptions dressed as passes", "host file reads", "writes outside", "disk fill",
           "fork / thread bomb", "network", "resource exhaustion"}


def _inputs(case: dict) -> tuple[str, object, dict]:
    task = CORPUS["tasks"][case["task"]]
    code = (HERE / case["file"]).read_text()
    if "test_list" in task:
        return code, task["test_list"], {}
    return code, task["test"], {"entry_point": task["entry_point"], "prompt": task["prompt"]}


def test_the_corpus_is_well_formed():
    cases = CORPUS["cases"]
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    assert {c["class"] for c in cases} == CLASSES
    assert all((HERE / c["file"]).is_file() and c["task"] in CORPUS["tasks"] for c in cases)


@pytest.fixture(scope="module")
def verdicts():
    level, why = isolation_level()
    if level != "sealed":
        pytest.skip(f"no sealed sandbox on this host ({why}); code rewards refuse to run here")
    cases = CORPUS["cases"]
    preds, golds, rows = zip(*(_inputs(c) for c in cases))
    return dict(zip([c["id"] for c in cases], code_check_many(list(preds), list(golds), list(rows),
                                                             score_mode="all_pass", limits=LIMITS)))


def test_every_attack_fails_to_earn_reward(verdicts):
    got = {c["id"]: (verdicts[c["id"]].score, verdicts[c["id"]].status) for c in CORPUS["cases"]}
    # "a|b": either status (which wall stops it first depends on the CPU's speed); never a reward
    bad = {c["id"]: verdicts[c["id"]].reason for c in CORPUS["cases"]
           if got[c["id"]][0] != 0.0 or got[c["id"]][1] not in c["expect"].split("|")}
    assert not bad, bad
    counts = collections.Counter(s for _, s in got.values())
    print(f"red-team corpus: {sum(s == 0.0 for s, _ in got.values())}/{len(got)} attacks earned no reward; "
          f"by status {dict(sorted(counts.items()))}")


def test_every_verdict_names_the_isolation_in_force(verdicts):
    assert all("isolation: sealed: bubblewrap" in v.reason for v in verdicts.values())
