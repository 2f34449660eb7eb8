"""Your own data: read JSONL / JSON / Parquet files and Hugging Face `datasets` folders saved to disk,
map their fields to prompts and gold answers, validate every row, and mix several sources.

    from reasonrl.data import RowSpec, load_samples, Mixture
    spec = RowSpec(prompt_field="question", answer_field="final", verifier="math")
    rows = load_samples("train.jsonl", spec, on_bad_row="skip")     # bad rows reported as FILE:LINE
    mix = Mixture([rows, more_rows], weights=(3, 1))
    mix.batch(seed=0, step=7, n=16)                                  # a pure function of (seed, step)

Used by the `dataset` task (reasonrl.tasks.dataset: `task.name=dataset task.path=FILE`).
"""
from reasonrl.data.mixture import Mixture
from reasonrl.data.read import DataError, Record, read_records
from reasonrl.data.rows import BadRow, RowSpec, gold_problems, load_samples, row_to_sample

__all__ = ["BadRow", "DataError", "Mixture", "Record", "RowSpec", "gold_problems", "load_samples",
           "read_records", "row_to_sample"]
