"""What a run writes while it trains ("every run leaves a record a person can read"):
metrics.jsonl, rollouts.jsonl, samples.jsonl (the same held-out prompts answered over time),
reasoning telemetry, reward-hacking alarms, the cost ledger and report.html."""
from __future__ import annotations

import math
from pathlib import Path

from reasonrl.report.cost import device_label, ledger_from_metrics, step_cost, write_ledger
from reasonrl.eval.heldout import evaluate_heldout
from reasonrl.config import to_dict
from reasonrl.logging import ExternalSinks, JsonlLog
from reasonrl.report.samples import probe
from reasonrl.report.telemetry import guess_telemetry, hacking_alarms, length_telemetry, step_telemetry
from reasonrl.verifiers.settings import using


def length_band(task, backend):
    """(terse, full) answer lengths in tokens when the task defines them (walk), else None."""
    tok = getattr(backend, "tokenizer", None)
    return task.length_band(tok) if tok is not None and hasattr(task, "length_band") else None


class RunRecord:
    """Owns the run directory's logs. `start` is the step being resumed from (0 = fresh)."""

    def __init__(self, cfg, out: Path, start: int, backend, task, heldout, render, n_params: int, log=print):
        self.cfg, self.out, self.backend, self.task = cfg, Path(out), backend, task
        self.heldout, self.render, self.n_params, self.log = heldout, render, n_params, log
        resume = start if start else None
        self.metrics = JsonlLog(self.out / "metrics.jsonl", resume_step=resume)
        self.rollouts = JsonlLog(self.out / "rollouts.jsonl", resume_step=resume)
        self.probes = JsonlLog(self.out / "samples.jsonl", resume_step=resume)
        self.history = self.metrics.rows()
        self.sinks = ExternalSinks(cfg.train.log_to, self.out, to_dict(cfg), self.out.name) if cfg.train.log_to else None
        self.length_band = length_band(task, backend)

    def evaluate(self, step: int) -> dict:
        """Held-out accuracy (greedy and one sample), pass@k with eval.k > 1, and the probe prompts,
        judged with the run's verifier settings (the config's `verify:` section)."""
        with using(self.cfg.verify):
            return self._evaluate(step)

    def _evaluate(self, step: int) -> dict:
        cfg = self.cfg
        m = evaluate_heldout(self.backend, self.task, self.heldout, render=self.render,
                             max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature,
                             sampled=cfg.eval.sampled, seed=cfg.seed)
        if cfg.eval.k > 1:   # the paper's sampling protocol: T = 0.6, top-p 0.95, k samples per problem
            from reasonrl.eval.heldout import heldout_metrics
            m.update(heldout_metrics(self.backend, self.render, self.heldout, k=cfg.eval.k, temperature=0.6,
                                     top_p=0.95, max_new_tokens=cfg.rollout.max_new_tokens, seed=cfg.seed))
        for row in probe(self.backend, self.heldout, self.render, max_new_tokens=cfg.rollout.max_new_tokens):
            self.probes.write({"step": step, **row})
        return m

    def first_eval(self, start: int) -> dict:
        """Step-0 evaluation of the starting model (read back when resuming)."""
        if start:
            rows = [r for r in self.history if r.get("step") == 0]
            return rows[0] if rows else {}
        ev = self.evaluate(0)
        self.write(0, ev)
        return ev

    def step_extras(self, sampled, usage) -> dict:
        """Reasoning telemetry of the rollouts as sampled, and the step's cost (tokens, FLOPs) from what
        the update reported it trained on (usage: reasonrl.types.UpdateUsage)."""
        m = step_telemetry(sampled, self.task, self.render.prefill)
        m.update(length_telemetry(sampled, self.task, self.length_band))
        m.update(guess_telemetry(sampled, self.task))
        m.update(step_cost(sampled, usage, self.n_params))
        return m

    def write(self, step: int, m: dict, trained=None) -> None:
        """One metrics row; with `trained` (the batch the update used) also its first rollouts."""
        self.metrics.write({"step": step, **m})
        self.history.append({"step": step, **m})
        if self.sinks is not None:
            self.sinks.write(step, m)
        if trained is not None:
            self._log_rollouts(step, trained)
            for w in hacking_alarms(self.history):
                self.log(f"warning: {w}")

    def _log_rollouts(self, step: int, batch) -> None:
        g = batch.group_size
        for i in range(min(self.cfg.train.log_rollouts, len(batch.gen.texts))):
            s = batch.samples[i // g]
            comps = {k: (None if math.isnan(v[i].item()) else round(v[i].item(), 4))
                     for k, v in batch.components.items()}
            self.rollouts.write({"step": step, "prompt": s.prompt, "answer": s.answer,
                                 "completion": batch.gen.texts[i], "reward": round(batch.rewards[i].item(), 4),
                                 "components": comps, "advantage": round(batch.advantages[i].item(), 4),
                                 "status": batch.statuses[i], "truncated": bool(batch.gen.truncated[i])})

    def finish(self, model) -> None:
        """Cost ledger and the HTML report (never fatal: the run's results are already on disk)."""
        if self.sinks is not None:
            self.sinks.close()
        try:
            write_ledger(self.out, ledger_from_metrics(self.metrics.rows(), n_params=self.n_params,
                                                       device=device_label(model)))
            from reasonrl.report import write_report
            self.log(f"report: {write_report(self.out)}")
        except Exception as e:  # noqa: BLE001 - a plotting problem must not fail a finished run
            self.log(f"warning: report not written ({type(e).__name__}: {e})")
