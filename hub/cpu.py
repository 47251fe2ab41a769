"""Bulk work that must not take a core from the event loop.

On two cores the hub's loop (decode, rules, sends) shares the machine with the broker and
with its own bulk work: storing readings. Niceness did not keep that work out of the loop's
way, because the kernel places a waking thread on an idle core, and a core busy with nice-10
work is not idle, so the loop queued behind the broker while the store held the other core.
A core running only SCHED_IDLE threads counts as idle, and the loop takes it at once
(docs/delivery-latency.md).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

IDLE_CLASS = hasattr(os, "SCHED_IDLE")
"""Linux has SCHED_IDLE; elsewhere the calls below change nothing."""


def run_on_idle_cpu() -> bool:
    """Put the calling thread (only it, and threads it starts later) in the SCHED_IDLE class.

    Lowering a thread's class needs no privilege, but a sandbox may forbid the call: then the
    thread goes on as it was, with a warning, since storing must not stop over it. Returns
    whether the thread is in the class now.
    """
    if not IDLE_CLASS:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:
        logger.warning("cannot run storage on idle CPU only (%s); it runs at normal priority, "
                       "and warnings may wait behind it when cores are short", exc)
        return False
    return True
