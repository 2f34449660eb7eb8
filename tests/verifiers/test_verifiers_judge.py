"""The trusted judge: tests and comparisons run on this side, with the program's names bound as proxies."""
import pytest

from reasonrl.verifiers.judge import judge
from reasonrl.verifiers.sandbox import Limits

FAST = Limits(wall_s=3.0, cpu_s=1, memory_mb=512, procs=16, file_mb=4, output_kb=64, disk_mb=8)


def _judge(code, tests, setup="", entry=None, prompt=""):
    job = {"code": code, "tests": tests, "setup": setup, "entry_point": entry, "prompt": prompt}
    return judge(job, FAST, allow_unsealed=True)   # sealed wherever bubblewrap works; semantics are the same


def _score(res):
    return res["status"], res["passed"], res["total"]


HE_SQRT = "def check(candidate):\n    assert abs(candidate(2.0) - 1.4142135623730951) < 1e-9\n"


def test_a_correct_program_passes_and_builtins_cannot_be_replaced_by_the_program():
    assert _score(_judge("def sqrt(x):\n    return x ** 0.5\n", ["assert abs(candidate(2.0) - 1.4142135623730951) < 1e-9"],
                         HE_SQRT, "sqrt")) == ("ok", 1, 1)
    cheat = "import builtins\nbuiltins.abs = lambda x: 0\ndef abs(x):\n    return 0\ndef sqrt(x):\n    return 0.0\n"
    assert _score(_judge(cheat, ["assert abs(candidate(2.0) - 1.4142135623730951) < 1e-9"], HE_SQRT, "sqrt")) == ("ok", 0, 1)


def test_mbpp_function_named_like_a_builtin_is_the_programs_only_when_nothing_else_is_tested():
    prog = "def sum(a, b):\n    return a * 10 + b\n"
    assert _score(_judge(prog, ["assert sum(1, 2) == 12", "assert sum(0, 5) == 5"])) == ("ok", 2, 2)
    cheat = "def sum(xs):\n    return 6\ndef f(x):\n    return 0\n"   # f is under test; its sum must not replace ours
    assert _score(_judge(cheat, ["assert f(3) == sum([1, 2, 3])"])) == ("ok", 0, 1)


def test_stdlib_modules_the_tests_name_are_this_sides_own_imports():
    prog = "import sys\nimport os\ndef size(t):\n    return sys.getsizeof(t)\n"
    assert _score(_judge(prog, ["assert size((1, 2)) == sys.getsizeof((1, 2))"])) == ("ok", 1, 1)
    res = _judge(prog, ["assert size((1, 2)) > 0 and os.sep == '/'"])   # os is not offered to the tests
    assert _score(res) == ("ok", 0, 1) and "NameError" in res["failures"][0]


def test_program_exceptions_come_back_as_data():
    prog = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    raise StopIteration\n"
    catch = "try:\n    candidate(-1)\n    assert False\nexcept ValueError:\n    pass"
    assert _score(_judge(prog, [catch], "", "f")) == ("ok", 1, 1)          # a test may expect ValueError
    res = _judge(prog, ["assert all(map(candidate, [1, 2]))"], "", "f")   # StopIteration would end map() early
    assert _score(res) == ("ok", 0, 1) and "StopIteration" in res["failures"][0]


def test_a_test_that_swallows_every_exception_does_not_pass_a_dead_program():
    prog = "import os\ndef f():\n    os._exit(0)\n"
    res = _judge(prog, ["try:\n    candidate()\nexcept BaseException:\n    pass", "assert True"], "", "f")
    assert _score(res) == ("crashed", 0, 2)


def test_tests_that_never_call_the_program_judge_nothing():
    res = _judge("def f():\n    return 1\n", ["assert True"])
    assert res["status"] == "error" and "never called" in res["reason"]


def test_prompt_helpers_are_the_data_sets_not_the_programs():
    prompt = "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n"
    tests = ["assert candidate(encode('abc')) == 'abc'"]
    assert _score(_judge(prompt + "    return s[::-1]\n", tests, "", "decode", prompt)) == ("ok", 1, 1)
    cheat = "def encode(s):\n    return 'x'\ndef decode(s):\n    return 'abc'\n"
    assert _score(_judge(cheat, ["assert candidate(encode('xyz')) == 'xyz'"], "", "decode", prompt)) == ("ok", 0, 1)


@pytest.mark.parametrize("code, why", [("def f(x):\n    return x\nraise RuntimeError('at import')\n", "RuntimeError"),
                                       ("def f(x) return x\n", "SyntaxError")])
def test_a_program_that_does_not_load_fails_every_test(code, why):
    res = _judge(code, ["assert f(1) == 1", "assert f(2) == 2"])
    assert _score(res) == ("ok", 0, 2) and why in res["failures"][0]


def test_arguments_that_are_not_plain_data_fail_the_test():
    res = _judge("def f(g):\n    return 1\n", ["assert f(lambda: 0) == 1"])
    assert _score(res) == ("ok", 0, 1) and "not plain data" in res["failures"][0]
