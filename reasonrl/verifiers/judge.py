"""The trusted judge: a program's tests run here, and only its return values cross the sandbox wall.

    res = judge({"code": "def f(x):\\n    return x + 1", "tests": ["assert f(1) == 2"], "setup": "",
                 "entry_point": None, "prompt": ""}, Limits(), allow_unsealed=False)
    res["status"], res["passed"], res["total"]      # 'ok', 1, 1

The candidate program runs in a Sandbox (sandbox.py) and does nothing but answer calls. The tests
(from the data set, never from the model) run in this process, in a namespace built from the
problem's prompt and test set-up, where each name the tests use and the program defines (`candidate`
for HumanEval's `check(candidate)`, the function names of MBPP asserts) is a proxy: calling it sends
plain-data arguments to the sandbox and returns its plain-data answer. Every `==`, every `assert` and
the count of passes happen here, on builtin values; nothing the program made is ever called here.
Builtins and names the prompt or set-up defines win over the program's: it cannot replace `abs`.

Run it in a verifier worker process (codecheck does, through the pool), never in the trainer: test
code from a data set is trusted, not harmless (it can loop), and the pool's time limit covers it.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib

from reasonrl.verifiers.sandbox import CandidateRaised, Limits, Refused, Sandbox, SandboxStopped

_NOT_MIRRORED = (StopIteration, StopAsyncIteration, AssertionError)
_MODULES = {"math", "cmath", "sys", "re", "string", "collections", "itertools", "functools", "operator",
            "heapq", "bisect", "decimal", "fractions", "statistics", "datetime"}  # tests may name these


class CandidateError(Exception):
    """An exception the program raised, re-raised on this side as data (never the program's object)."""


@functools.lru_cache(maxsize=None)
def _mirror(name: str) -> type:
    """A builtin exception type named `name` (so tests that expect e.g. ValueError still work), as a
    subclass of CandidateError; never StopIteration (it would end a loop of the tests silently) or
    AssertionError, and nothing that is not an Exception."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, _NOT_MIRRORED):
        try:
            return type(name, (cls, CandidateError), {})
        except TypeError:
            pass
    return CandidateError


def _proxy(sb: Sandbox, name: str):
    def call(*args, **kwargs):
        try:
            return sb.call(name, args, kwargs)
        except CandidateRaised as e:
            cls = _mirror(e.exc)
            try:
                err = cls(e.msg) if cls is not CandidateError else cls(f"{e.exc}: {e.msg}")
            except Exception:  # noqa: BLE001 - e.g. an exception type with required arguments
                err = CandidateError(f"{e.exc}: {e.msg}")
            raise err from None
    call.__name__ = call.__qualname__ = name
    return call


def _used_names(sources: list[str]) -> set[str]:
    names = set()
    for src in sources:
        try:
            names |= {n.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Name)}
        except SyntaxError:
            pass
    return names


def trusted_namespace(job: dict) -> dict:
    """The tests' namespace before any proxy: the prompt's helpers (HumanEval) and the set-up code.
    Raises whatever that trusted code raises."""
    ns: dict = {"__name__": "tests"}
    if job.get("entry_point") and job.get("prompt"):
        try:
            exec(compile(job["prompt"], "prompt.py", "exec"), ns)
        except Exception:  # noqa: BLE001 - a prompt need not be runnable on its own
            pass
    exec(compile(job.get("setup") or "", "setup.py", "exec"), ns)
    return ns


def _builtin_targets(tests: list[str], defined: dict) -> set[str]:
    """Builtin names the program defines and every test calls: the function under test is itself
    named like a builtin (MBPP's `sum`). Only used when the tests call no other name of the program."""
    called = []
    for t in tests:
        try:
            called.append({n.func.id for n in ast.walk(ast.parse(t)) if isinstance(n, ast.Call)
                           and isinstance(n.func, ast.Name)})
        except SyntaxError:
            return set()
    common = set.intersection(*called) if called else set()
    if any(defined.get(n) == "call" and not hasattr(builtins, n) for n in set().union(*called)):
        return set()
    return {n for n in common if defined.get(n) == "call" and hasattr(builtins, n)}


def bind_program(ns: dict, sb: Sandbox, job: dict) -> None:
    """Bind the program's names the tests use: functions as proxies, plain values as copies, stdlib
    modules it imported as this side's own import. Builtins win (see _builtin_targets)."""
    entry = job.get("entry_point")
    if entry:
        ns["candidate"] = ns[entry] = _proxy(sb, entry)
    targets = set() if entry else _builtin_targets(job["tests"], sb.names)
    for name in _used_names([*job["tests"], job.get("setup") or ""]) - set(ns):
        kind = sb.names.get(name)
        if kind is None or (hasattr(builtins, name) and name not in targets):
            continue
        if kind == "call":
            ns[name] = _proxy(sb, name)
            continue
        if kind.startswith("module "):
            mod = kind[len("module "):]
            if mod in _MODULES:
                ns[name] = importlib.import_module(mod)
            continue
        try:
            ns[name] = sb.get(name)
        except Exception:  # noqa: BLE001 - not plain data: the tests will not find the name
            pass


def run_tests(ns: dict, sb: Sandbox, tests: list[str]) -> tuple[int, list[str]]:
    """Each test statement in turn; a test passes only when this side ran it to the end."""
    passed, failures = 0, []
    for i, t in enumerate(tests):
        if sb.status != "ok":
            failures.append(f"test {i}: not run ({sb.status})")
            continue
        try:
            exec(compile(t, f"test_{i}.py", "exec"), ns)
        except SandboxStopped as e:
            failures.append(f"test {i}: {e}")
            continue
        except BaseException as e:  # noqa: BLE001 - any failure of a test is that test failing
            failures.append(f"test {i}: {type(e).__name__}: {e}"[:300])
            continue
        if sb.status != "ok":             # a test swallowed the sandbox's end: not a pass
            failures.append(f"test {i}: the program stopped ({sb.status})")
            continue
        passed += 1
    return passed, failures


def judge(job: dict, limits: Limits, allow_unsealed: bool = False) -> dict:
    """-> {status, passed, total, failures, isolation, calls, output, reason}: plain data only.
    status: ok | timeout | output_limit | crashed | violation | refused | error."""
    total = len(job["tests"])
    res = {"status": "ok", "passed": 0, "total": total, "failures": [], "isolation": "", "calls": 0,
           "output": "", "reason": ""}
    try:
        ns = trusted_namespace(job)
    except Exception as e:  # noqa: BLE001 - the data set's own code failed: not the program's fault
        return {**res, "status": "error", "reason": f"the tests' set-up raised {type(e).__name__}: {e}"[:300]}
    try:
        sb = Sandbox(job["code"], limits, allow_unsealed=allow_unsealed)
    except Refused as e:
        return {**res, "status": "refused", "reason": str(e)}
    except OSError as e:
        return {**res, "status": "error", "reason": f"cannot start the sandbox: {e}"}
    with sb:
        res["isolation"] = sb.isolation
        if sb.status == "ok" and sb.load_error:
            res["failures"] = [f"the program raised {sb.load_error}"[:300]]
        elif sb.status == "ok":
            try:
                bind_program(ns, sb, job)
            except SandboxStopped:
                pass
            res["passed"], res["failures"] = run_tests(ns, sb, job["tests"])
    res.update(status=sb.status, reason=sb.reason, calls=sb.calls, output=sb.output[-2000:])
    if sb.status == "ok" and res["passed"] == total and sb.calls == 0:
        res.update(status="error", passed=0, reason="the tests never called the program: nothing was judged")
    res["failures"] = res["failures"][:5]
    return res
