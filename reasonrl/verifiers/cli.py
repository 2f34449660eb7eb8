"""`reasonrl verify`: grade a JSONL file of existing model outputs (from any model or system).

Each row's response is passed through the verifier's answer extraction and judged against its gold
answer; the rows are written back out with a `verdict` object beside them (score, status, extracted
answer, reason), by default to <FILE stem>.verdicts.jsonl beside FILE, and a summary is printed:
verdicts counted by status, bad rows, accuracy, and, with --label-field, agreement with existing
correctness labels (how we measure the verifier itself). Math answers must come from an explicit
marker (`--extract grade`); `--extract lenient` adds a last-number fallback and the summary warns.

CPU:  reasonrl verify samples.jsonl --gold-field gold_answer --response-field response --label-field label
      reasonrl verify ../shared/data/math500/test.jsonl --gold-field answer --response-field solution \\
          --out /tmp/math500.verdicts.jsonl      (a read-only data folder needs --out)
      reasonrl verify HumanEval.jsonl --verifier code --gold-field test --response-field canonical_solution
GPUs: the same (verification runs on CPU workers; --workers sets how many).
Departure from the paper: none; R1 describes rule-based checking without publishing its grader.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

EXTRACT_CHOICES = ("auto", "grade", "tag", "math", "lenient", "countdown")


def add_parser(subparsers) -> None:
    from reasonrl.verifiers import VERIFIERS
    from reasonrl.verifiers.settings import VerifierSettings

    d = VerifierSettings()
    p = subparsers.add_parser(
        "verify", help="grade a JSONL file of existing model outputs",
        description="Grade a JSONL file of existing model outputs and write each row back with its verdict.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("file", metavar="FILE", help="JSONL file, one output per line")
    p.add_argument("--gold-field", required=True, help="field holding the gold answer (dotted for nested)")
    p.add_argument("--response-field", required=True, help="field holding the model output")
    p.add_argument("--verifier", default="math", choices=sorted(VERIFIERS), help="how answers are judged")
    p.add_argument("--extract", default="auto", choices=EXTRACT_CHOICES,
                   help="answer extraction: auto = grade for math and arithmetic (explicit markers only: "
                        "<answer>, \\boxed{}, a final-answer phrase, ####, or a lone expression; else "
                        "'unparseable'), the verifier's own rule otherwise; lenient = grade plus a last-number "
                        "fallback (opt-in; the summary warns)")
    p.add_argument("--label-field", default=None, help="field with true/false labels to measure agreement with")
    p.add_argument("--out", default=None,
                   help="output JSONL; None means <FILE stem>.verdicts.jsonl beside FILE (use --out where "
                        "FILE's folder is read-only)")
    p.add_argument("--limit", type=int, default=None, help="grade only the first N rows")
    p.add_argument("--workers", type=int, default=d.math_workers, help="math worker processes and parallel sandboxes")
    p.add_argument("--timeout-s", type=float, default=d.math_timeout_s, help="wall clock per math check")
    p.add_argument("--no-strict", action="store_true",
                   help="math: any overlap of multi-part answers counts (math-verify's default; not for training)")
    p.add_argument("--code-score", default=d.code_score, choices=("all_pass", "fraction"), help="code score")
    p.add_argument("--code-wall-s", type=float, default=d.code_wall_s, help="wall clock per sandboxed program")
    p.add_argument("--show", type=int, default=5, help="print this many non-correct rows (or label disagreements)")
    p.set_defaults(fn=run)


def _policy(verifier: str, extract: str) -> str | None:
    if extract != "auto":
        return extract
    return "grade" if verifier in ("math", "arithmetic") else None


def run(args) -> int:
    from reasonrl.errors import UserError
    from reasonrl.verifiers.grading import format_summary, grade_file, summarize, verdict_record
    from reasonrl.verifiers.settings import configure

    if args.workers < 1 or args.timeout_s <= 0 or args.code_wall_s <= 0:
        raise UserError("--workers must be >= 1 and --timeout-s, --code-wall-s > 0")
    configure(math_workers=args.workers, code_parallel=args.workers, math_timeout_s=args.timeout_s,
              math_strict=not args.no_strict, code_score=args.code_score, code_wall_s=args.code_wall_s)
    out = _out_path(args.file, args.out)      # before grading: a bad output path fails fast
    t0 = time.time()
    graded = grade_file(args.file, gold_field=args.gold_field, response_field=args.response_field,
                        verifier=args.verifier, policy=_policy(args.verifier, args.extract), limit=args.limit)
    took = time.time() - t0
    try:
        with out.open("w", encoding="utf-8") as f:
            for g in graded:
                f.write(json.dumps(verdict_record(g), ensure_ascii=False) + "\n")
    except OSError as e:
        raise UserError(f"{out}: cannot write the verdicts ({e.strerror}); pass --out PATH") from None
    summary = summarize(graded, args.label_field)
    summary["fallback_on"] = _policy(args.verifier, args.extract) == "lenient"
    summary.update({"file": str(args.file), "verifier": args.verifier, "seconds": round(took, 2)})
    out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _show(graded, args)
    print(format_summary(summary))
    print(f"{len(graded)} rows in {took:.1f}s; verdicts -> {out}; summary -> {out.with_suffix('.summary.json')}")
    return 0


def _out_path(src: str, out: str | None) -> Path:
    """--out, else <stem>.verdicts.jsonl beside the input (two inputs of the same name in different
    folders never overwrite each other's verdicts). A folder that cannot be written is a UserError."""
    import os

    from reasonrl.errors import UserError

    if not Path(src).is_file():
        raise UserError(f"{src}: no such file")
    path = Path(out) if out else Path(src).with_name(f"{Path(src).stem}.verdicts.jsonl")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path.parent}: cannot create the output folder ({e.strerror}); pass --out PATH") from None
    # a folder with no write bit at all is read-only data: kept out even when running as root
    if not os.access(path.parent, os.W_OK) or not path.parent.stat().st_mode & 0o222:
        raise UserError(f"{path.parent}: folder is not writable, so the verdicts cannot go beside {src}; "
                        "pass --out PATH")
    return path


def _show(graded, args) -> None:
    from reasonrl.verifiers.grading import _truthy, get_field

    shown = 0
    for g in graded:
        if shown >= args.show:
            break
        status = g.verdict.status if g.verdict else ("bad_row" if g.bad else "dropped")
        if args.label_field:
            label = _truthy(get_field(g.row, args.label_field, None))
            if g.verdict is None or label is None or (status == "correct") == label:
                continue
            status += f" (label {label})"
        elif status == "correct":
            continue
        why = g.verdict.reason if g.verdict else (g.bad or g.dropped)
        ans = g.verdict.answer if g.verdict else None
        print(f"line {g.line}: {status}: answer {ans!r}: {why}"[:300])
        shown += 1
