"""The night's lookahead and script slots: bounded, ordered, never stuck (pure threads, no Prefect)."""

import threading
import time

from memo.lookahead import Lookahead


def test_admits_at_most_depth_tasks_ahead_and_releases_each_once():
    ahead = Lookahead(2)
    ahead.admit("a")
    ahead.admit("b")
    third = threading.Thread(target=ahead.admit, args=("c",))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # two tasks ahead of the scripts already: the third waits
    ahead.started("a")
    ahead.started("a")  # the script start and the run's end both report it: once counts
    third.join(2)
    assert not third.is_alive()
    ahead.started("zz")  # never admitted: ignored, the bound holds
    fourth = threading.Thread(target=ahead.admit, args=("d",))
    fourth.start()
    fourth.join(0.2)
    assert fourth.is_alive()
    ahead.started("b")
    fourth.join(2)
    assert not fourth.is_alive()


def test_a_run_that_ends_before_its_script_frees_its_place():
    ahead = Lookahead(1)
    ahead.admit("refused-by-the-guard")
    released = threading.Timer(0.1, ahead.started, args=("refused-by-the-guard",))
    released.start()
    started = time.monotonic()
    ahead.admit("next")
    assert time.monotonic() - started < 2


def test_submitted_runs_release_their_place_when_they_end_and_keep_the_order():
    """``submit``: a run that never reaches its script (refused, failed) frees its place when
    its future ends; runs are handed to the pool in the order they were submitted."""
    from concurrent.futures import ThreadPoolExecutor

    ahead = Lookahead(1)
    order = []
    with ThreadPoolExecutor(2) as pool:
        futures = [ahead.submit(key, lambda key=key: pool.submit(order.append, key)) for key in "abcd"]
        for future in futures:
            future.result(timeout=2)
    assert order == list("abcd")  # never stuck although no run called ``started`` itself
