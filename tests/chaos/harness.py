"""One crash-test run: ``run_seed(plan, workdir)``.

It starts ``bot.py exchange`` (its own process, the plan's day from ``plan.start``, at
``plan.speed``, every realism rule on), logs in through the login page's redirect and
``bot.py login`` (as the owner does), writes a ``mode: live``, ``feed: kite``, ``clock:
exchange``, ``stop_mode: exchange`` config, and runs ``bot.py run`` on a data directory in
``workdir``. Then, on the exchange's clock, it carries out the plan (``tests.chaos.plan``):
it kills the agent with SIGKILL at the plan's moments, or right after an event of its log
(``tests.chaos.logwatch.EVENTS``), and starts it again on the same data directory after the
plan's downtime; it switches the exchange's faults. An agent that ends by itself is counted
as a crash and started again. After ``plan.end`` (past the 15:31 ``session_end``) it stops
the agent with SIGTERM, reads the exchange's truth and the agent's books and judges them
(``tests.chaos.verdict``).

Nothing waits for a fixed time: the loop polls the log file and the exchange's clock every
``POLL`` seconds against deadlines. Every process it started is ended in a ``finally``, by
its own id. Everything is written under ``workdir``: ``exchange.out``, ``agent-N.out`` (each
run's console), ``data/logs/agent.log``, ``data/state.json``, ``truth.json`` (the exchange's
rows), ``actions.json`` (what was done when). Harness thread only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.chaos.collect import agent_books, exchange_truth
from tests.chaos.logwatch import EVENTS, LogTail
from tests.chaos.plan import ROOT, ChaosPlan, Kill, Schedule, make_schedule
from tests.chaos.procs import AgentRun, ChaosExchange, ExchangeClock, agent_env, tail
from tests.chaos.result import SeedResult
from tests.chaos.verdict import judge

POLL = 0.01  # wall seconds between two looks at the log and the clock
CHAOS_ACCOUNT = "chaos"  # storage.account when the plan puts the state on Redis
MAX_CRASHES = 10  # an agent that keeps dying by itself: the run is abandoned
WALL_SLACK = 120.0  # wall seconds beyond the planned session before the run gives up

CONFIG = """\
mode: live
feed: kite
clock: exchange
data_dir: ./data
log_level: INFO
kite: {{root: "{rest_root}", ws_root: "{ws_root}", login_url: "{login_url}"}}
defaults: {{interval: {interval}, percentage: {percentage}, target_multiple: 2,
            stop_mode: exchange}}
instruments:
{instruments}
"""


def _empty_account(url: str) -> None:
    """A run on Redis starts from nothing, as one in a fresh work directory does."""
    from storage.redis_conn import connect

    client = connect(url)
    try:
        for pattern in (f"*:{CHAOS_ACCOUNT}", f"*:{CHAOS_ACCOUNT}:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
    finally:
        client.close()


def write_config(workdir: Path, info: dict[str, Any], plan: ChaosPlan,
                 schedule: Schedule) -> Path:
    config = workdir / "config.yaml"
    rows = "\n".join(f'  - {{symbol: "{s}", lots: {lots}}}' for s, lots in schedule.instruments)
    text = CONFIG.format(interval=plan.interval, percentage=plan.percentage,
                         instruments=rows, **info)
    if plan.redis_url:  # issue 16: the same promises with the state on Redis
        text += (f'storage: {{backend: redis, redis_url: "{plan.redis_url}", '
                 f'account: {CHAOS_ACCOUNT}}}\n')
    config.write_text(text, encoding="utf-8")
    return config


def login(config: Path, exchange: ChaosExchange, root: Path = ROOT) -> None:
    """``bot.py login`` as a person does it: open the login page, paste where it lands."""
    page = requests.get(exchange.info["login_url"], params={"api_key": exchange.api_key,
                                                           "v": 3},
                        allow_redirects=False, timeout=10)
    if page.status_code != 302:
        raise RuntimeError(f"the login page answered {page.status_code}: {page.text[:200]}")
    done = subprocess.run(
        [sys.executable, str(root / "bot.py"), "login", "--config", str(config)],
        cwd=config.parent, env=agent_env(), input=page.headers["Location"] + "\n",
        capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"bot.py login failed ({done.returncode}): {done.stdout[-500:]}"
                           f"{done.stderr[-500:]}")


class _Run:
    """The loop of one run (see the module docstring)."""

    def __init__(self, plan: ChaosPlan, schedule: Schedule, result: SeedResult,
                 exchange: ChaosExchange, config: Path, say: Callable[[str], None],
                 root: Path) -> None:
        self.plan, self.schedule, self.result = plan, schedule, result
        self.exchange, self.config, self.say, self.root = exchange, config, say, root
        self.dead_since: datetime | None = None  # the agent is down (killed or crashed)
        self.clock = ExchangeClock(exchange)
        self.tail = LogTail(result.log)
        self.agent: AgentRun | None = None
        self.restart_at: datetime | None = None
        self.kills: list[Kill] = list(schedule.kills)
        self.armed: list[Kill] = []
        self.faults = list(schedule.faults)

    def note(self, what: str, **data: Any) -> None:
        entry = {"what": what, "at": self.clock.now().isoformat(timespec="seconds"), **data}
        self.result.actions.append(entry)
        self.say(f"seed {self.result.seed} {entry['at'][11:19]} {what} "
                 + " ".join(f"{k}={v}" for k, v in data.items() if k != "line"))

    def start_agent(self) -> None:
        n = self.result.agent_runs
        self.agent = AgentRun(self.config, self.result.workdir / f"agent-{n}.out", self.root)
        self.result.agent_runs += 1
        self.restart_at = None
        self.note("start", run=n, pid=self.agent.pid)

    def kill(self, kill: Kill, trigger: str, line: str = "") -> None:
        assert self.agent is not None
        pid = self.agent.pid
        code = self.agent.kill()
        self.agent = None
        self.watch_log()  # its last lines, read now: no kill may follow them
        self.result.kills += 1
        self.dead_since = self.dead_since or self.clock.now()
        self.restart_at = self.clock.now() + timedelta(seconds=kill.down)
        self.note("kill", trigger=trigger, pid=pid, code=code, down=kill.down,
                  line=line.strip()[-200:])

    def loop(self) -> None:
        end = self.schedule.end
        wall_limit = time.monotonic() + self.clock.wall_seconds(
            (end - self.clock.now()).total_seconds()) + WALL_SLACK
        pause = threading.Event()
        self.start_agent()
        while True:
            now = self.clock.now()
            if time.monotonic() > wall_limit:
                raise RuntimeError(f"the run took more than {WALL_SLACK:.0f} s of wall time "
                                   f"beyond its plan (the exchange's clock says {now})")
            self.watch_log()
            self.switch_faults(now)
            self.due_kills(now)
            self.keep_alive(now)
            if now >= end and not self.kills and not self.armed:
                break
            pause.wait(POLL)  # a poll of the log and the clock, not a wait for a result

    def watch_log(self) -> None:
        for line in self.tail.lines():
            if EVENTS["session_end"].search(line):
                self.result.session_ended = True
            if EVENTS["agent_running"].search(line):
                self.up_again()
            if self.agent is None or not self.armed:
                continue
            for kill in self.armed:
                assert kill.event is not None
                if EVENTS[kill.event].search(line):
                    self.armed.remove(kill)
                    self.kill(kill, kill.event, line)
                    break

    def switch_faults(self, now: datetime) -> None:
        while self.faults and self.faults[0].at <= now:
            fault = self.faults.pop(0)
            try:
                self.exchange.faults(**fault.spec)
                self.result.faults += 1
                self.note("fault", spec=json.dumps(fault.spec))
            except (ValueError, requests.RequestException) as exc:
                self.note("fault refused", spec=json.dumps(fault.spec), error=str(exc))

    def due_kills(self, now: datetime) -> None:
        while self.kills and self.kills[0].at <= now:
            kill = self.kills[0]
            if kill.event is None and (self.agent is None or not self.agent.alive()):
                return  # the agent is down: this kill waits until it is up again
            self.kills.pop(0)
            if kill.event is None:
                self.kill(kill, "time")
            else:
                self.armed.append(kill)
                self.note("armed", event=kill.event, deadline=kill.deadline.isoformat())
        for kill in list(self.armed):
            if kill.deadline <= now and self.agent is not None and self.agent.alive():
                self.armed.remove(kill)
                self.kill(kill, f"deadline of {kill.event}")

    def keep_alive(self, now: datetime) -> None:
        if self.agent is None:
            if self.restart_at is not None and now >= self.restart_at:
                self.start_agent()
            return
        code = self.agent.returncode
        if code is None:
            return
        self.result.crashes += 1
        self.dead_since = self.dead_since or self.clock.now()
        self.note("crash", code=code, output=tail(self.agent.out, 5).strip()[-300:])
        self.agent = None
        self.watch_log()  # its last lines, read now: no kill may follow them
        if self.result.crashes >= MAX_CRASHES:
            raise RuntimeError(f"the agent ended by itself {self.result.crashes} times; the "
                               f"last output:\n{tail(self.result.workdir / 'agent-0.out')}")
        if now < self.schedule.end:
            self.start_agent()

    def up_again(self) -> None:
        if self.dead_since is not None:
            self.result.downtime_seconds += (self.clock.now() - self.dead_since).total_seconds()
            self.dead_since = None

    def finish(self) -> None:
        self.watch_log()
        if self.dead_since is not None:  # down at the end: counted until then
            self.up_again()
        if self.agent is not None:
            code = self.agent.stop()
            self.result.stop_code = code
            self.note("stop", code=code)
            self.agent = None
        self.watch_log()

    def close(self) -> None:
        """Whatever happened: no agent is left running."""
        if self.agent is not None:
            self.agent.kill()
            self.agent = None


def run_seed(plan: ChaosPlan, workdir: Path, say: Callable[[str], None] = lambda _: None,
             root: Path = ROOT) -> SeedResult:
    """One run in ``workdir`` (created if need be) of the agent and exchange of the checkout
    ``root`` (default: this one). Never raises for what happens in the run: a failure is
    ``result.error``, with ``result.where()`` saying where to look."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    schedule = make_schedule(plan)
    result = SeedResult(plan.seed, workdir, plan.speed, schedule.day,
                        list(schedule.instruments))
    exchange: ChaosExchange | None = None
    run: _Run | None = None
    if plan.redis_url:
        _empty_account(plan.redis_url)
    try:
        exchange = ChaosExchange(
            workdir, "--date", f"{schedule.start:%Y-%m-%dT%H:%M}", "--speed", f"{plan.speed:g}",
            "--seed", str(plan.seed), "--rate-clock", "exchange", root=root).start()
        config = write_config(workdir, exchange.info, plan, schedule)
        login(config, exchange, root)
        run = _Run(plan, schedule, result, exchange, config, say, root)
        try:
            run.loop()
            run.finish()
        finally:
            run.close()
        say(f"seed {plan.seed}: reading the exchange's truth and the agent's books")
        truth = exchange_truth(exchange, schedule.close, workdir / "truth.json")
        result.verdict = judge(truth, agent_books(result.data_dir, plan.redis_url,
                                                  CHAOS_ACCOUNT))
    except Exception:
        result.error = traceback.format_exc()
    finally:
        if exchange is not None:
            exchange.stop()
        if run is not None:
            result.events = dict(run.tail.counts)
        result.wall_seconds = time.monotonic() - started
        (workdir / "actions.json").write_text(json.dumps(result.to_json(), indent=1),
                                              encoding="utf-8")
    return result
