"""A fleet of simulated agents (`paygate-agent simulate`): enroll N devices, run them in threads,
and add up what they sent and what the gateway stored."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_agents.agent import Agent, Identity
from device_agents.enroll import Enroller, enroll
from device_agents.profiles import profile_for


@dataclass
class FleetSummary:
    devices: int
    queued: int
    sent: int
    acked: int
    refused_by_broker: int
    left_in_outboxes: int
    stored: int | None = None  # from the gateway, when it could be asked
    rejected: int | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def kind_of(index: int, kinds: str) -> str:
    return kinds if kinds in ("phone", "iot") else ("phone" if index % 2 == 0 else "iot")


def enroll_fleet(root: Path, count: int, kinds: str, enroller: Enroller, broker_url: str | None = None) -> list[Path]:
    """Home directories of `count` enrolled devices under root (existing ones are reused)."""
    homes = []
    for index in range(count):
        home = Path(root) / f"device-{index:04d}"
        if not (home / "identity.json").exists():
            kind = kind_of(index, kinds)
            enroll(home, kind, f"sim-{kind}", enroller, broker_url=broker_url)
        homes.append(home)
    return homes


class Fleet:
    def __init__(self, homes: list[Path], *, interval: float = 1.0, broker_url: str | None = None,
                 approve_probability: float = 0.9, auto_approve_limit: int = 50_000, max_inflight: int = 20) -> None:
        self.agents = []
        for index, home in enumerate(homes):
            kind = Identity.load(home).kind
            profile = profile_for(kind, auto_approve_limit=auto_approve_limit,
                                  approve_probability=approve_probability, seed=index)
            self.agents.append(Agent(home, profile, telemetry_interval=interval, broker_url=broker_url,
                                     max_inflight=max_inflight))

    def run(self, duration: float, on_tick: Callable[[float], None] | None = None, drain_timeout: float = 15.0) -> FleetSummary:
        """Run every agent for `duration` seconds, then let them empty their outboxes."""
        stop = threading.Event()
        threads = [threading.Thread(target=agent.run, args=(stop, None), daemon=True) for agent in self.agents]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < duration:
            if on_tick:
                on_tick(elapsed)
            time.sleep(min(0.25, max(0.0, duration - elapsed)))
        stop.set()
        for thread in threads:
            thread.join()
        drains = [threading.Thread(target=self._drain, args=(agent, drain_timeout), daemon=True) for agent in self.agents]
        for thread in drains:
            thread.start()
        for thread in drains:
            thread.join()
        return self.summary()

    @staticmethod
    def _drain(agent: Agent, timeout: float) -> None:
        agent.telemetry_interval = 0  # stop producing; send what is left
        agent.drain(timeout)

    def summary(self) -> FleetSummary:
        stats = [agent.stats for agent in self.agents]
        return FleetSummary(
            devices=len(self.agents), queued=sum(s.queued for s in stats), sent=sum(s.sent for s in stats),
            acked=sum(s.acked for s in stats), refused_by_broker=sum(s.refused for s in stats),
            left_in_outboxes=sum(agent.outbox.count() for agent in self.agents))

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
