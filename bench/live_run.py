"""Runs a live benchmark: the simulator and the agent, each in a spawned process of its own.

``run_live(sim_plan, agent_plan, timeout)`` starts the simulator (``bench.live_sim``),
hands its addresses to the agent (``bench.live_agent``), waits for the agent's record,
then stops the simulator and returns both records. A fresh interpreter per side keeps the
bench process's own heap (the other parts' data) out of the agent's RSS and out of its
garbage collector's way. Raises RuntimeError, naming the side, when either fails or falls
silent. Main thread of the bench process.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from bench.live_agent import AgentPlan, AgentRecord, agent_process
from bench.live_sim import SimPlan, SimRecord, sim_process

START_TIMEOUT = 120.0  # seconds for the simulator to come up (it may grow price paths first)


def _receive(pipe: Any, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError(f"{what}: nothing after {timeout:.0f} s")
    try:
        return pipe.recv()
    except EOFError:
        raise RuntimeError(f"{what}: the process ended without an answer") from None


def run_live(sim_plan: SimPlan, agent_plan: AgentPlan, timeout: float
             ) -> tuple[SimRecord, AgentRecord]:
    """Both records; ``timeout``: seconds the agent may take in all."""
    ctx = multiprocessing.get_context("spawn")
    sim_pipe, sim_end = ctx.Pipe()
    sim = ctx.Process(target=sim_process, args=(sim_end, sim_plan), name="bench-sim",
                      daemon=True)
    agent: Any = None
    sim.start()
    sim_end.close()  # the child's end: closed here, its death reads as EOF
    try:
        info = _receive(sim_pipe, START_TIMEOUT, "the simulated exchange did not start")
        agent_pipe, agent_end = ctx.Pipe()
        agent = ctx.Process(target=agent_process, args=(agent_end, agent_plan, info),
                            name="bench-agent", daemon=True)
        agent.start()
        agent_end.close()
        record: AgentRecord = _receive(agent_pipe, timeout, "the agent did not finish")
        agent.join(10)
        sim_pipe.send("stop")
        sim_record: SimRecord = _receive(sim_pipe, 60, "the simulated exchange did not stop")
        sim.join(10)
    finally:
        for proc in (agent, sim):
            if proc is not None and proc.is_alive():
                proc.terminate()
                proc.join(5)
    if record.error:
        raise RuntimeError(f"the agent failed: {record.error}")
    return sim_record, record
