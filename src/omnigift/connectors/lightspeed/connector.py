"""The Lightspeed R-Series connector: our cards mirrored as gift card credit accounts; till
spends, loads and gift cards sold in Lightspeed taken in by polling (it has no webhooks).

A credit account's balance changes only through a sale with a gift card payment (integrations.md
3.2), and a funded card's balance is *negative* there (-100 for $100). So a push writes a sale:
a gift card payment of ``-delta`` (negative loads, positive spends) balanced by a payment of the
balancing type, with our write id in ``referenceNumber`` (``referenceNumberSource: omnigift``).
Lightspeed enforces no uniqueness on it (3.2 [U]), so after an ambiguous failure the connector
searches sales by that reference before writing anything else. Polling skips our own sales.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from omnigift.connectors.base import (
    AuthenticationFailed,
    BadSignature,
    CardRefused,
    CardTarget,
    Journal,
    MirrorState,
    Notification,
    PlatformCard,
    PlatformRejected,
    PlatformSpend,
    PlatformUnavailable,
    Sink,
    UnrecordedSpend,
)
from omnigift.connectors.lightspeed.client import LightspeedClient, items
from omnigift.connectors.times import parse_time
from omnigift.ids import new_id
from omnigift.money import decimal_string, minor_units

SOURCE = "omnigift"
TOKEN_URL = "https://cloud.lightspeedapp.com/auth/oauth/token"  # noqa: S105 - a URL
FIRST_POLL_WINDOW = timedelta(minutes=10)
INSUFFICIENT = "insufficient"


class LightspeedConnector:
    def __init__(
        self,
        base_url: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        self.client = LightspeedClient(base_url, credentials["access_token"], http)
        self._credentials = dict(credentials)
        self._http = http
        self.settings = settings
        self.currency = str(settings.get("currency", "USD"))
        options = settings.get("platform_options") or {}
        self.register_id = str(options.get("register_id", 1))
        self.shop_id = str(options.get("shop_id", 1))
        self.employee_id = str(options.get("employee_id", 1))
        self._gift_type: str | None = options.get("gift_card_payment_type_id")
        self._balancing_type: str | None = options.get("balancing_payment_type_id")

    async def check(self) -> None:
        await self._payment_types()

    async def subscribe(self, callback_url: str) -> None:
        return None  # R-Series has no webhooks: ``poll`` does the work

    def verify(self, headers: dict[str, str], body: bytes) -> Notification:
        raise BadSignature("Lightspeed R-Series sends no notifications")

    async def process(self, notification: Notification, sink: Sink) -> None:
        return None

    async def _payment_types(self) -> tuple[str, str]:
        """The gift card payment type, and the one that balances our sync sales (looked up,
        not hard-coded: integrations.md 3.2)."""
        if self._gift_type is None or self._balancing_type is None:
            listed = await self.client.call("GET", "PaymentType.json") or {}
            kinds = {t.get("type"): str(t["paymentTypeID"]) for t in items(listed, "PaymentType")}
            self._gift_type = self._gift_type or kinds.get("gift card")
            self._balancing_type = self._balancing_type or kinds.get("cash")
        if not (self._gift_type and self._balancing_type):
            raise PlatformRejected("Lightspeed has no gift card (or cash) payment type")
        return self._gift_type, self._balancing_type

    # --- spends in -------------------------------------------------------------------------

    async def poll(self, cursor: dict[str, Any], sink: Sink) -> dict[str, Any]:
        """Sales changed since the cursor; their gift card payments, once each."""
        gift_type, _ = await self._payment_types()
        since = parse_time(cursor.get("since")) or (datetime.now(UTC) - FIRST_POLL_WINDOW)
        newest = since
        path: str | None = "Sale.json"
        params: dict[str, Any] | None = {
            "timeStamp": f">=,{since.isoformat()}",
            "sort": "timeStamp",
            "load_relations": '["SalePayments"]',
            "limit": 100,
        }
        while path:
            page = await self.client.call("GET", path, params=params) or {}
            for sale in items(page, "Sale"):
                await self._take_in(sale, gift_type, sink)
                newest = max(newest, parse_time(sale.get("timeStamp")) or newest)
            path = (page.get("@attributes") or {}).get("next") or None
            params = None
        return {"since": newest.isoformat()}

    async def _take_in(self, sale: dict[str, Any], gift_type: str, sink: Sink) -> None:
        if sale.get("referenceNumberSource") == SOURCE:
            return  # one of our own sync sales
        if sale.get("completed") != "true" or sale.get("voided") == "true":
            return
        for payment in items(sale.get("SalePayments"), "SalePayment"):
            account = str(payment.get("creditAccountID") or "0")
            if payment.get("paymentTypeID") != gift_type or account == "0":
                continue
            if payment.get("archived") == "true":
                continue
            amount = minor_units(payment["amount"], self.currency)
            if amount < 0 and await self._sold_here(account, sale, sink):
                continue  # a gift card sold in Lightspeed: it entered the ledger with its value
            await sink.spend(
                PlatformSpend(
                    external_card_id=account,
                    amount=amount,
                    currency=self.currency,
                    reference=f"payment:{payment['salePaymentID']}",
                    occurred_at=parse_time(sale.get("completeTime") or sale.get("timeStamp")),
                    order={"id": str(sale["saleID"]), "ticket": sale.get("ticketNumber")},
                    loaded=amount < 0,
                )
            )

    async def _sold_here(self, account_id: str, sale: dict[str, Any], sink: Sink) -> bool:
        """A load of a card we don't know yet is a gift card sold in Lightspeed."""
        card = await self.read(account_id)
        if card is None:
            return False
        card = await self._with_customer(card, str(sale.get("customerID") or "0"))
        try:
            return await sink.native_card(card, sold=True)
        except CardRefused:
            return True  # not the ledger's card (staff have a code_incompatible exception)

    async def _with_customer(self, card: PlatformCard, customer_id: str) -> PlatformCard:
        """The card with the customer of the sale that sold it (seed 002: with
        ``send_notifications`` a web store uploads that customer and e-mails them)."""
        if customer_id == "0":
            return card
        found = await self.client.call(
            "GET", f"Customer/{customer_id}.json", params={"load_relations": '["Contact"]'}
        )
        customer = (found or {}).get("Customer") or {}
        emails = items((customer.get("Contact") or {}).get("Emails"), "ContactEmail")
        email = next((str(e["address"]) for e in emails if e.get("address")), None)
        names = (customer.get("firstName"), customer.get("lastName"))
        name = " ".join(str(n) for n in names if n) or None
        return replace(card, customer_email=email or card.customer_email, customer_name=name)

    # --- mirror out ------------------------------------------------------------------------

    async def push(
        self, target: CardTarget, mirror: MirrorState, journal: Journal, *, rebase: bool = False
    ) -> None:
        state = mirror
        if state.pending_write:
            state = await self._settle(target, state, journal)
        if state.external_id is None:
            if target.state != "active" or target.balance <= 0:
                return
            state = await self._create(target, journal)
        known = state.known_balance or 0
        if rebase:
            card = await self.read(str(state.external_id))
            if card is not None and card.balance != known:
                await journal.applied(balance_delta=card.balance - known)
                known = card.balance
        delta = target.balance - known
        if delta:
            await self._move(str(state.external_id), delta, target.currency, journal)
        if target.state == "deactivated" and state.known_state != "deactivated":
            await self.client.call("DELETE", f"CreditAccount/{state.external_id}.json")
            await journal.applied(state="deactivated")

    async def _create(self, target: CardTarget, journal: Journal) -> MirrorState:
        code = self._serial_for(target)
        if not 8 <= len(code) <= 32:
            raise PlatformRejected("Lightspeed gift card codes are 8 to 32 characters", "TOO_SHORT")
        await journal.intend({"op": "create"})
        created = await self.client.call(
            "POST",
            "CreditAccount.json",
            body={
                # Seed 002: the online order's shipping name on the POS card, and the last 4 of
                # the online code in its note, so staff can match the two.
                "name": target.shipping_name or f"Gift card {target.code[-4:]}",
                "code": code,
                "giftCard": "true",
                "description": f"online code ends {target.code[-4:]}",
            },
        )
        account = items(created, "CreditAccount")
        if not account:
            raise PlatformRejected("Lightspeed did not create the credit account")
        external_id = str(account[0]["creditAccountID"])
        await journal.created(external_id, 0, "active", None)
        return MirrorState(external_id, 0, "active", None, None)

    def _serial_for(self, target: CardTarget) -> str:
        """The card's code, or with ``serial_prefix`` (seed 002) a POS serial: the 4-digit
        prefix and 12 digits derived from the card (stable, so a retried create finds it)."""
        prefix = self.settings.get("serial_prefix")
        if not prefix:
            return target.code
        digest = hashlib.sha256(f"{target.account_id}:{target.code}".encode()).hexdigest()
        return str(prefix) + str(int(digest, 16))[-12:].rjust(12, "0")

    async def _move(self, account_id: str, delta: int, currency: str, journal: Journal) -> None:
        gift_type, balancing = await self._payment_types()
        reference = new_id("wr")
        await journal.intend({"op": "sale", "reference": reference, "delta": delta})
        try:
            await self.client.call(
                "POST",
                "Sale.json",
                body={
                    "completed": "true",
                    "employeeID": self.employee_id,
                    "registerID": self.register_id,
                    "shopID": self.shop_id,
                    "referenceNumber": reference,
                    "referenceNumberSource": SOURCE,
                    "SalePayments": {
                        "SalePayment": [
                            {
                                # Negative loads the card, positive spends it (3.2).
                                "amount": decimal_string(-delta, currency),
                                "creditAccountID": account_id,
                                "paymentTypeID": gift_type,
                            },
                            {"amount": decimal_string(delta, currency), "paymentTypeID": balancing},
                        ]
                    },
                },
            )
        except PlatformRejected as refused:
            await journal.abandoned()
            if INSUFFICIENT in str(refused).lower():
                raise UnrecordedSpend(
                    "Lightspeed holds less than we know of: a till spend not yet taken in"
                ) from refused
            raise
        await journal.applied(balance_delta=delta)

    async def _settle(
        self, target: CardTarget, state: MirrorState, journal: Journal
    ) -> MirrorState:
        """A write's answer was lost: did the sale (or the account) get made?"""
        pending = state.pending_write or {}
        if pending.get("op") == "create":
            # Found by its code (the only lookup Lightspeed offers: ``=``, 1 per second, 3.2).
            found = await self.client.call(
                "GET",
                "CreditAccount.json",
                params={"giftCard": "true", "code": self._serial_for(target)},
            )
            accounts = items(found, "CreditAccount")
            if accounts:
                card = self._card(accounts[0])
                await journal.created(card.external_id, card.balance, "active", None)
                return MirrorState(card.external_id, card.balance, "active", None, None)
        if pending.get("op") == "sale":
            found = await self.client.call(
                "GET", "Sale.json", params={"referenceNumber": pending["reference"]}
            )
            if items(found, "Sale"):
                delta = int(pending.get("delta", 0))
                await journal.applied(balance_delta=delta)
                return state.settled(delta)
        await journal.abandoned()
        return state.settled()

    # --- reading cards ---------------------------------------------------------------------

    async def read(self, external_id: str) -> PlatformCard | None:
        found = await self.client.call("GET", f"CreditAccount/{external_id}.json")
        accounts = items(found, "CreditAccount")
        return self._card(accounts[0]) if accounts else None

    async def list_cards(self, cursor: str | None) -> tuple[list[PlatformCard], str | None]:
        page = (
            await self.client.call(
                "GET",
                cursor or "CreditAccount.json",
                params=None if cursor else {"giftCard": "true", "limit": 100},
            )
            or {}
        )
        cards = [self._card(a) for a in items(page, "CreditAccount")]
        return cards, ((page.get("@attributes") or {}).get("next") or None)

    def _card(self, account: dict[str, Any]) -> PlatformCard:
        code = str(account.get("code") or "")
        known = code and not code.startswith("*")  # masked without the unmasking scope
        return PlatformCard(
            external_id=str(account["creditAccountID"]),
            # A funded card's balance is negative in Lightspeed (integrations.md 3.2).
            balance=-minor_units(account.get("balance") or "0", self.currency),
            currency=self.currency,
            enabled=account.get("archived") != "true",
            expires_on=None,
            code=code if known else None,
            last_characters=code[-4:] or None,
            as_of=parse_time(account.get("timeStamp")),
        )

    async def refresh_credentials(self) -> dict[str, str] | None:
        """OAuth refresh (integrations.md 3.1): a new access token and a new refresh token; the
        old refresh token stops working once the new access token is used, so the caller must
        keep both."""
        needed = ("refresh_token", "client_id", "client_secret")
        if not all(self._credentials.get(k) for k in needed):
            return None
        url = self._credentials.get("token_url", TOKEN_URL)
        try:
            response = await self._http.post(
                url,
                data={"grant_type": "refresh_token", **{k: self._credentials[k] for k in needed}},
            )
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(f"Lightspeed token endpoint unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise AuthenticationFailed(f"Lightspeed refused to refresh ({response.status_code})")
        issued = response.json()
        self._credentials.update(
            access_token=issued["access_token"],
            refresh_token=issued.get("refresh_token") or self._credentials["refresh_token"],
        )
        self.client.use_token(self._credentials["access_token"])
        return dict(self._credentials)

    async def aclose(self) -> None:
        return None
