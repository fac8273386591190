"""Gift cards: issue, read, list, look up by code."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.idempotency import IdempotencyDep, Outcome, run_idempotent
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.api.routes.common import PROBLEMS, Limit, caller_of, json_response
from omnigift.api.schemas import (
    CardsResend,
    CodeAttach,
    Email,
    EmailList,
    EmailSend,
    GiftCard,
    GiftCardCreate,
    GiftCardList,
    LookupRequest,
    ResendAccepted,
)
from omnigift.clock import utcnow
from omnigift.customers.profiles import live_customer_id, normalize_email
from omnigift.ids import new_id
from omnigift.keys import Principal, Scope
from omnigift.ledger.errors import CurrencyMismatch, InvalidRequest, NotFound
from omnigift.ledger.issuing import IssueCard, LotSpec, issue_card
from omnigift.ledger.lookup import count_miss, find_by_code, guard
from omnigift.ledger.queries import CardFilter, list_cards
from omnigift.ledger.queries import get_card as load_card
from omnigift.ledger.records import open_lots
from omnigift.ledger.serials import attach_code
from omnigift.ledger.views import card_view
from omnigift.mail.outbox import delivery_log, queue_email
from omnigift.mail.owners import resend_to_owner
from omnigift.promotions.granting import on_card_purchased

router = APIRouter(prefix="/v1/gift-cards", tags=["gift cards"], responses=PROBLEMS)
Writer = Annotated[Principal, Depends(require(Scope.CARDS_WRITE))]
Reader = Annotated[Principal, Depends(require(Scope.CARDS_READ))]
Looker = Annotated[Principal, Depends(require(Scope.CARDS_LOOKUP))]


@router.post("", status_code=201, response_model=GiftCard, summary="Issue a gift card")
async def issue(
    body: GiftCardCreate, runtime: RuntimeDep, principal: Writer, idem: IdempotencyDep
) -> Response:
    """Issue a card: active with `initial_value`, or pending with none. The code is shown once."""
    command = IssueCard(
        type=body.type,
        currency=body.currency,
        initial_value=body.initial_value.amount if body.initial_value else None,
        initial_lot=body.initial_lot.to_spec() if body.initial_lot else LotSpec(),
        code=body.code,
        pin=body.pin,
        expires_at=body.expires_at,
        customer_id=body.customer_id,
        recipient=body.recipient.model_dump() if body.recipient else None,
        metadata=body.metadata,
        activate=body.activate,
    )
    if body.deliver and not (body.recipient and body.recipient.email):
        raise InvalidRequest("a card to deliver needs recipient.email", field="recipient.email")
    if body.deliver_at and not body.deliver:
        raise InvalidRequest("deliver_at goes with deliver: true", field="deliver_at")
    if body.initial_value and body.initial_value.currency != body.currency:
        raise CurrencyMismatch(
            "initial_value must be in the card's currency", field="initial_value"
        )

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        owner = await _owner(conn, body.customer_id)
        issue = replace(command, customer_id=owner)
        issued = await issue_card(conn, issue, runtime.policy, principal.origin, now)
        bonuses = await on_card_purchased(
            conn, issue, issued, runtime.policy, principal.origin, now
        )
        card = await load_card(conn, issued.written.card.id) if bonuses else issued.written.card
        if body.deliver:
            await _deliver(conn, card.id, body, now)
        lots = await open_lots(conn, card.id)
        view = card_view(card, lots=lots, code=issued.code)
        if bonuses:
            view["bonuses"] = bonuses
        return Outcome(201, view, [issued.written.activity["type"]])

    return await run_idempotent(runtime, principal, idem, work)


async def _deliver(
    conn: AsyncConnection, card_id: str, body: GiftCardCreate, now: datetime
) -> None:
    """Queue the gift e-mail: at once, or at ``deliver_at`` (never before now)."""
    recipient = body.recipient
    assert recipient is not None and recipient.email is not None
    when = max(body.deliver_at, now) if body.deliver_at else now
    context = {"name": recipient.name, "message": recipient.message, "sender": None}
    to = normalize_email(recipient.email)
    await queue_email(
        conn,
        "card_delivered",
        f"issue:{card_id}",
        to,
        context,
        now,
        account_id=card_id,
        send_at=when,
    )


async def _owner(conn: AsyncConnection, customer_id: str | None) -> str | None:
    """The live customer a new card belongs to (a merged id resolves to who took it over)."""
    if customer_id is None:
        return None
    try:
        return await live_customer_id(conn, customer_id)
    except NotFound:
        raise InvalidRequest(f"no customer {customer_id}", field="customer_id") from None


@router.get("/{card_id}", response_model=GiftCard, summary="Get a gift card")
async def get_card(
    card_id: str,
    runtime: RuntimeDep,
    principal: Reader,
    reveal: Annotated[
        bool, Query(description="include the full code (scope cards:reveal)")
    ] = False,
) -> Response:
    """The card with its balance, available value and lots."""
    if reveal and not principal.allows(Scope.CARDS_REVEAL):
        raise ApiError(403, ApiErrorCode.FORBIDDEN, "revealing codes needs scope cards:reveal")
    async with runtime.db.read() as conn:
        card = await load_card(conn, card_id)
        lots = await open_lots(conn, card_id)
    code = runtime.policy.vault.unseal(card.code_sealed) if reveal else None
    return json_response(card_view(card, lots=lots, code=code))


@router.get("", response_model=GiftCardList, summary="List gift cards")
async def list_all(
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    state: str | None = None,
    customer_id: str | None = None,
    last4: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{4}$")] = None,
    created_after: datetime | None = None,
) -> Response:
    """Cards in creation order; filter by state, customer, last 4 of the code, creation time."""
    filters = CardFilter(state, customer_id, last4.upper() if last4 else None, created_after)
    async with runtime.db.read() as conn:
        cards, next_cursor = await list_cards(conn, filters, limit, cursor)
    return json_response({"data": [card_view(c) for c in cards], "next_cursor": next_cursor})


@router.post("/lookup", response_model=GiftCard, summary="Find a gift card by its code")
async def lookup(
    body: LookupRequest, request: Request, runtime: RuntimeDep, principal: Looker
) -> Response:
    """The card with this code (and PIN). Unknown code, bad check digit and wrong PIN all
    answer 404; too many misses answer 429 with Retry-After."""
    now = utcnow()
    card = await find_by_code(
        runtime.db,
        body.code,
        body.pin,
        caller_of(request, principal),
        runtime.policy,
        runtime.limits,
        now,
    )
    async with runtime.db.read() as conn:
        view = card_view(card, lots=await open_lots(conn, card.id))
    return json_response(view)


@router.post(
    "/resend",
    status_code=202,
    response_model=ResendAccepted,
    summary="E-mail a person their cards again",
)
async def resend_theirs(
    body: CardsResend, request: Request, runtime: RuntimeDep, principal: Looker
) -> Response:
    """For a storefront's or balance page's "e-mail me my gift cards": every active card with
    value given to this e-mail, or owned by the customer with it, is e-mailed there and nowhere
    else, each at most once an hour. The answer is the same whether or not there are any; an
    address with none counts as a miss against the caller's lookup limits (then 429)."""
    caller = caller_of(request, principal)
    now = utcnow()
    await guard(runtime.db, caller, runtime.limits, now)
    async with runtime.db.transaction() as conn:
        found = await resend_to_owner(conn, body.email, now)
    if not found:
        await count_miss(runtime.db, caller, runtime.limits, now)
    return json_response({"status": "accepted"}, 202)


@router.put("/{card_id}/code", response_model=GiftCard, summary="Attach a serial to a card")
async def put_code(
    card_id: str, body: CodeAttach, runtime: RuntimeDep, principal: Writer
) -> Response:
    """Only for a card whose code nobody knows (`metadata.code_known: false`, e.g. imported
    from Shopify, which shows only the last 4 characters): staff give it a physical serial,
    which then finds it at the till. A known code never changes (409 `invalid_state`); a serial
    in use is 409 `code_taken`. Repeating the same serial answers the card again."""
    now = utcnow()
    async with runtime.db.transaction() as conn:
        card = await attach_code(conn, card_id, body.code, runtime.policy, now)
        lots = await open_lots(conn, card.id)
    return json_response(card_view(card, lots=lots))


@router.get("/{card_id}/emails", response_model=EmailList, summary="A card's e-mails")
async def emails_of(card_id: str, runtime: RuntimeDep, principal: Reader) -> Response:
    """The delivery log: every e-mail about the card, queued, sent or failed, with its attempts."""
    async with runtime.db.read() as conn:
        await load_card(conn, card_id)
        return json_response({"data": await delivery_log(conn, card_id)})


@router.post(
    "/{card_id}/emails", status_code=202, response_model=Email, summary="Send the card again"
)
async def resend(card_id: str, body: EmailSend, runtime: RuntimeDep, principal: Writer) -> Response:
    """E-mail the card (its code and QR code) to its recipient, or to `to`; sent by the worker.
    A card with no recipient e-mail and no `to` is refused."""
    async with runtime.db.transaction() as conn:
        card = await load_card(conn, card_id)
        recipient = card.recipient or {}
        to = body.to or recipient.get("email")
        if not to:
            raise InvalidRequest("this card has no recipient e-mail: say `to`", field="to")
        context = {
            "name": recipient.get("name"),
            "message": recipient.get("message"),
            "sender": None,
        }
        queued = await queue_email(
            conn,
            "card_delivered",
            new_id("send"),
            normalize_email(to),
            context,
            utcnow(),
            account_id=card.id,
        )
    return json_response(queued, 202)
