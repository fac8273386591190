"""Everything one running simulator holds, and the gate in front of every ``/API/`` route.

Gate order: a queued fault (an outage or injected status answers whatever the token) → the
bearer token (401, 3.1 [C]) → the account in the path (403 when it is not the token's account
[U]) → the scope (403, 3.3 [C]) → the burst limiter and leaky bucket (429, 3.3 [C]) → the
route. Every ``/API/`` answer carries the ``X-LS-*`` headers (3.3 [C]).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .clock import Clock
from .config import LightspeedConfig
from .errors import ApiError, api_error
from .faults import FaultBook
from .limits import LEAKY, Limits, Verdict
from .state import Store, Token

Handler = Callable[[Request, Token], Awaitable[Response]]
WRITE_COST = 10.0  # writes and count=1 cost 10 drips (3.3 [C])
NESTED_COST = 0.5  # per nested SaleLine / SalePayment in a POST/PUT body (3.3 [C])
RELATION_COST = 1.0  # per loaded relation: the docs say it "adds cost", not how much [U]


@dataclass
class Simulator:
    """The account's records, clock, limits and faults."""

    config: LightspeedConfig
    clock: Clock
    store: Store
    limits: Limits
    faults: FaultBook
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, config: LightspeedConfig) -> Simulator:
        """A fresh account from ``config``."""
        clock = Clock()
        return cls(
            config=config,
            clock=clock,
            store=Store(config, clock),
            limits=Limits(
                clock,
                config.effective_bucket_size,
                config.effective_drip_rate,
                config.burst_limit,
            ),
            faults=FaultBook(clock),
        )

    def reset(self) -> None:
        """Forget every record, token issued, fault and counter (control plane)."""
        self.store = Store(self.config, self.clock)
        self.limits.reset()
        self.faults.clear()

    def _headers(self, response: Response, verdict: Verdict) -> Response:
        response.headers.update(
            self.limits.headers(self.config.account_id, self.config.oauth_client_id, verdict)
        )
        return response

    async def gate(
        self, request: Request, resource: str, scope: str | None, handler: Handler
    ) -> Response:
        """Run ``handler`` for an ``/API/`` call behind faults, auth, scope and limits."""
        from .auth import check_bearer  # auth imports this module

        method = request.method
        fault = self.faults.take("api", resource, method)
        free = Verdict(allowed=True, cost=0)
        if fault is not None:
            if fault.kind == "down":
                return self._headers(api_error(503), free)
            if fault.kind == "status":
                return self._headers(api_error(fault.status), free)
            if fault.kind == "throttle":
                wait = max(1, round(fault.seconds)) if fault.seconds else 1
                blocked = Verdict(allowed=False, cost=1, limiter=LEAKY, retry_after=wait)
                return self._headers(api_error(429, "Rate limit exceeded."), blocked)
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
        token = check_bearer(self.store, request)
        if isinstance(token, Response):
            return self._headers(token, free)
        account = request.path_params.get("account_id")
        if account is not None and account != str(self.config.account_id):
            return self._headers(api_error(403, "This token has no access to that account."), free)
        if scope is not None and scope not in token.scopes:
            return self._headers(api_error(403, f"The {scope} scope is required."), free)
        verdict = self.limits.take(await self._cost(request))
        if not verdict.allowed:
            message = (
                "burst rate limit exceeded" if verdict.limiter != LEAKY else "Rate limit exceeded."
            )
            return self._headers(api_error(429, message), verdict)
        async with self.lock:
            try:
                response = await handler(request, token)
            except ApiError as error:
                response = api_error(error.status, error.message)
        if fault is not None and fault.kind == "ambiguous":
            # The work is done; the client only sees a failure (after ``seconds``, a timeout).
            if fault.seconds:
                await asyncio.sleep(fault.seconds)
            response = api_error(fault.status)
        return self._headers(response, verdict)

    async def _cost(self, request: Request) -> float:
        """The drips this request adds (3.3 [C]; relation cost [U])."""
        params = request.query_params
        if request.method in ("POST", "PUT", "DELETE"):
            cost = WRITE_COST
            try:
                body: Any = json.loads(await request.body() or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict):
                for outer, inner in (("SaleLines", "SaleLine"), ("SalePayments", "SalePayment")):
                    holder = body.get(outer)
                    nested = holder.get(inner) if isinstance(holder, dict) else None
                    if isinstance(nested, list):
                        cost += NESTED_COST * len(nested)
                    elif isinstance(nested, dict):
                        cost += NESTED_COST
            return cost
        if params.get("count") == "1":
            return WRITE_COST
        cost = 1.0
        raw = params.get("load_relations")
        if raw:
            try:
                names = json.loads(raw) if raw != "all" else ["all"]
            except ValueError:
                names = []
            cost += RELATION_COST * (len(names) if isinstance(names, list) else 1)
        return cost
