"""The pipeline: file checks with line numbers, stage wiring, and the shipped CPU pipeline in a
shortened form (smoke) that skips finished stages on re-run and resumes an unfinished one."""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from reasonrl.config import ConfigError
from reasonrl.pipeline import load_pipeline, plan, run_pipeline

TINY = Path(__file__).resolve().parents[1] / "configs" / "pipeline-tiny.yaml"


def _write(tmp_path, text):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    return f


@pytest.mark.parametrize("body,match", [
    ("  - {name: a, kind: sft, data: x.jsonl}\n  - {name: b, kind: rll}\n", r"p.yaml:4: stage 'b': unknown kind 'rll'"),
    ("  - {name: a, kind: rl}\n  - {name: a, kind: rl}\n", r"p.yaml:4: stage name 'a' is used twice"),
    ("  - {name: a, kind: rl, modle: base}\n", r"p.yaml:3: unknown stage key 'modle'"),
    ("  - {name: a, kind: sft}\n", r"p.yaml:3: stage 'a' \(sft\) has no data"),
    ("  - {name: a, kind: rl, set: [train.stepz=3]}\n", r"p.yaml:3: stage 'a': .*unknown config key 'train.stepz'"),
    ("  - {name: a, kind: sample}\n  - {name: b, kind: sft, data: [a], model: a}\n", r"stage 'a' produces no model"),
])
def test_bad_pipeline_files_name_the_line(tmp_path, body, match):
    f = _write(tmp_path, "out: x\nstages:\n" + body)
    with pytest.raises(ConfigError, match=match):
        plan(load_pipeline(f))


def test_wiring_follows_the_paper_order():
    steps = {st["stage"].name: st for st in plan(load_pipeline(TINY, ["out=/p"]))}
    assert steps["cold_start"]["inputs"]["model"] == "embedded"
    assert steps["cold_start"]["inputs"]["data"] == ["/p/cold_data/traces.jsonl"]
    assert steps["reason_rl"]["cfg"].model.path == "/p/cold_start/final"
    assert steps["rejection"]["cfg"].model.path == "/p/reason_rl/final"
    assert steps["sft_from_base"]["cfg"].model.path == "embedded"            # SFT restarts from the base
    assert steps["sft_from_base"]["cfg"].data.files == ("/p/rejection/traces.jsonl",)
    assert steps["rl_again"]["cfg"].model.path == "/p/sft_from_base/final"
    assert steps["final_eval"]["cfg"].model == "/p/rl_again/final" and steps["final_eval"]["cfg"].data == "walk"
    assert "language" in steps["reason_rl"]["cfg"].reward.functions
    assert steps["rl_again"]["cfg"].seed == 1 and steps["reason_rl"]["cfg"].seed == 0


def test_gpu_pipeline_config_is_valid():
    """Every key of the GPU recipe exists (it is planned, not run)."""
    steps = plan(load_pipeline(TINY.parent / "pipeline-qwen2.5-1.5b.yaml"))
    assert [st["stage"].kind for st in steps] == ["sft", "rl", "sample", "sft", "rl", "eval"]
    assert steps[1]["cfg"].model.template == "r1zero" and steps[1]["cfg"].task.verifier == "math"
    assert steps[5]["cfg"].template == "r1zero" and steps[5]["cfg"].data == "math500"


def test_command_line_overrides_go_to_their_stage(tmp_path):
    p = load_pipeline(TINY, [f"out={tmp_path}", "reason_rl.train.steps=3"])
    assert p.out == str(tmp_path) and p.stages[2].set[-1] == "train.steps=3"
    with pytest.raises(ConfigError, match="STAGE.key=value"):
        load_pipeline(TINY, ["nosuchstage.train.steps=3"])


SHORT = {"cold_data": ["prompts.count=8", "sample.k=2", "sample.max_new_tokens=26"],
         "cold_start": ["train.steps=2", "data.max_length=64"],
         "reason_rl": ["train.steps=2", "train.prompts_per_step=2", "rollout.num_generations=2", "eval.size=4",
                       "rollout.max_new_tokens=26"],
         "rejection": ["prompts.count=8", "sample.k=2", "sample.max_new_tokens=26"],
         "sft_from_base": ["train.steps=2"],
         "rl_again": ["train.steps=2", "train.prompts_per_step=2", "rollout.num_generations=2", "eval.size=4",
                      "rollout.max_new_tokens=26"],
         "final_eval": ["limit=2", "k=2", "bootstrap=0", "max_new_tokens=26"]}


def _short(out):
    p = load_pipeline(TINY, [f"out={out}"] + [f"{name}.{o}" for name, opts in SHORT.items() for o in opts])
    return replace(p, table={"size": 4, "max_new_tokens": 26, "temperature": 1.0, "sampled": False})


def test_smoke_pipeline_tiny_shortened_runs_skips_and_resumes(tmp_path):
    lines = []
    rows = run_pipeline(_short(tmp_path / "p"), log=lines.append)
    assert [r["name"] for r in rows] == ["base", "cold_data", "cold_start", "reason_rl", "rejection",
                                        "sft_from_base", "rl_again", "final_eval"]
    assert all("acc/heldout" in r["heldout"] for r in rows if r["inputs"]["kind"] in ("sft", "rl", "-"))
    assert "held-out accuracy after each stage" in lines[-1] and "sft_from_base" in lines[-1]
    for name in ("cold_start", "reason_rl"):   # each stage records its config and its inputs
        d = tmp_path / "p" / name
        assert (d / "config.yaml").is_file() and json.loads((d / "inputs.json").read_text())["from"]
    assert json.loads((tmp_path / "p" / "reason_rl" / "inputs.json").read_text())["from"] == ["cold_start"]
    # A re-run skips every finished stage ...
    lines.clear()
    again = run_pipeline(_short(tmp_path / "p"), log=lines.append)
    assert sum("skipped" in x for x in lines) == 7 and again == rows
    # ... and a pipeline killed inside rl_again (its stage.json never written) resumes that stage only.
    (tmp_path / "p" / "rl_again" / "stage.json").unlink()
    (tmp_path / "p" / "final_eval" / "stage.json").unlink()
    lines.clear()
    run_pipeline(_short(tmp_path / "p"), log=lines.append)
    assert sum("skipped" in x for x in lines) == 5
    assert any("resuming" in x and "rl_again" in x for x in lines)
    # A finished stage with other inputs is an error, not a silent re-use.
    changed = load_pipeline(TINY, [f"out={tmp_path / 'p'}", "cold_data.sample.k=3"] +
                            [f"{n}.{o}" for n, opts in SHORT.items() for o in opts])
    with pytest.raises(ConfigError, match="other inputs"):
        run_pipeline(replace(changed, table=_short(tmp_path / "p").table), log=lines.append)
