# SPDX-License-Identifier: MIT
"""The soak's leak judgement on readings at rest seen in real runs: a
high-water step passes, a leak fails, wherever it starts."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from soak import LIVE_HEAP_GROWTH_LIMIT_KIB, Failures, check_growth, continuing_growth  # noqa: E402


def rest(live_heap):
    return [("start", {"rss_kib": 30000, "live_heap_kib": live_heap[0]})] + [
        (f"point {i}", {"rss_kib": 30000, "live_heap_kib": v}) for i, v in enumerate(live_heap)]


def judge(live_heap):
    fig, failures = {"rest": rest(live_heap)}, Failures(None, 10)
    check_growth(fig, "live-heap", failures)
    return fig, failures


def test_a_process_table_doubling_after_the_warm_up_is_not_a_leak():
    # make soak-short on a loaded 2-core machine: the process table doubled
    # when the most churn processes yet were alive, then stayed.
    fig, failures = judge([26044, 26165, 26164, 26164, 26163])
    assert not failures
    assert fig["live_heap_growth_kib"] == 119


def test_a_steady_leak_at_the_limit_fails():
    fig, failures = judge([26000 + 16 * i for i in range(5)])
    assert failures
    assert fig["live_heap_continuing_kib"] == LIVE_HEAP_GROWTH_LIMIT_KIB


def test_a_leak_after_a_step_fails():
    _, failures = judge([26000, 26120, 26150, 26180, 26210])
    assert failures


def test_a_leak_that_starts_half_way_is_judged_in_full():
    assert continuing_growth([0, 0, 0, 40, 80]) == 80


def test_a_rise_at_the_last_reading_alone_is_one_step():
    # Indistinguishable from a high-water mark reached late; a leak goes on,
    # and a soak with one more checkpoint would see its second step.
    assert continuing_growth([0, 0, 0, 0, 100]) == 0


def test_the_allocator_settling_in_the_full_soak_is_one_step():
    # RSS at rest in the last full soak: 268 KiB between the first two
    # readings, little after.
    assert continuing_growth([9768, 10036, 10060, 10100, 10100]) == 128
