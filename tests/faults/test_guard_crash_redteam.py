"""Red team: a script that crashes the guard's parser crashes the process that checks it.

libcst's native parser recurses once per dotted-name part and per ``or``/``and`` operand,
unchecked: ``import a.a.a….b`` (25,000 parts, 50 KB, well under the 256 KiB limit) overflowed
the thread's stack and the runner died of SIGSEGV: the HTTP app (``serve``: every other task's
run with it) or the night. Here a real ``memo-taskrunner run-task`` checks each such script;
it must refuse it and live.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.conftest import Memo, make_settings

DEPTH = 25000
BODIES = {
    "dotted import": "import " + "a." * DEPTH + "b\n",
    "dotted from-import": "from " + "a." * DEPTH + "b import c\n",
    "long or": "x = a" + " or a" * DEPTH + "\nprint(x)\n",
}


@pytest.mark.parametrize("what", sorted(BODIES))
def test_a_script_that_overflows_the_parsers_stack_is_refused_and_the_runner_lives(what, tmp_path, sqlite_url, cli):
    memo = Memo(sqlite_url)
    task_id = memo.task("abccorp", "deep.txt", BODIES[what])
    settings = make_settings(tmp_path, sqlite_url)

    child = cli(settings, "run-task", task_id)
    out, err = child.communicate(timeout=120)

    assert child.returncode != -signal.SIGSEGV, f"the runner died of SIGSEGV checking a {what}: {err[-500:]}"
    assert child.returncode == 1, (child.returncode, err[-2000:])
    result = json.loads(out.strip().splitlines()[-1])
    assert result["success"] is False
    [row] = memo.runlog(task_id)
    assert not row.is_success and "abccorp:deep_txt" in row.message, row.message
    memo.engine.dispose()
