"""The simulator's parts held together: config, records, quota, faults, webhook sender."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from .config import BigCommerceConfig
from .faults import Faults
from .quota import Quota
from .state import Store
from .webhooks import WebhookSender


@dataclass
class Simulator:
    """Everything one simulated store knows; one per app."""

    config: BigCommerceConfig
    store: Store = field(init=False)
    quota: Quota = field(init=False)
    faults: Faults = field(init=False)
    sender: WebhookSender = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(seed=self.config.seed)
        self.quota = Quota(limit=self.config.quota, window_ms=self.config.window_ms)
        self.faults = Faults(queued=[])
        self.sender = WebhookSender(self.config, self.store)

    def reset(self) -> None:
        """Forget every record, fault and counter; hooks go too (control plane)."""
        self.store = Store(seed=self.config.seed)
        self.sender.store = self.store
        self.sender.counters = type(self.sender.counters)()
        self.faults.queued.clear()
        self.quota.reset()


def simulator(request: Request) -> Simulator:
    """The simulator behind the app serving ``request``."""
    sim: Simulator = request.app.state.sim
    return sim
