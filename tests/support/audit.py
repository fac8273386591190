"""The audit of a whole ledger database: the invariants every state must satisfy, whatever led
to it (double entry, lots, holds, events). Shared by the ledger's and store credit's property
tests."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import accounts, activities, events, gift_cards, holds, lots, postings

ACTIVITY_EVENTS = ("gift_card.activity.created", "store_credit.activity.created")


async def read_all(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "accounts": accounts,
        "gift_cards": gift_cards,
        "lots": lots,
        "activities": activities,
        "postings": postings,
        "holds": holds,
        "events": events,
    }
    found = {}
    for name, table in tables.items():
        rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
        found[name] = [dict(row._mapping) for row in rows]
    return found


def check_ledger(db: dict[str, list[dict[str, Any]]]) -> None:
    """The invariants every ledger state must satisfy, whatever led to it."""
    account = {row["id"]: row for row in db["accounts"]}
    activity = {row["id"]: row for row in db["activities"]}
    by_activity: Counter[str] = Counter()
    by_account: Counter[str] = Counter()
    by_currency: Counter[str] = Counter()
    for posting in db["postings"]:
        by_activity[posting["activity_id"]] += posting["amount"]
        by_account[posting["account_id"]] += posting["amount"]
        by_currency[posting["currency"]] += posting["amount"]
        assert posting["activity_id"] in activity
        assert posting["currency"] == account[posting["account_id"]]["currency"]
    assert all(total == 0 for total in by_activity.values()), "an activity is unbalanced"
    assert all(total == 0 for total in by_currency.values()), "postings do not sum to zero"

    lots_of: defaultdict[str, int] = defaultdict(int)
    lot_expiry: dict[str, datetime | None] = {}
    for lot in db["lots"]:
        assert 0 <= lot["remaining"] <= lot["amount"], lot
        lots_of[lot["account_id"]] += lot["remaining"]
        lot_expiry[lot["id"]] = lot["expires_at"]
    open_held: defaultdict[str, int] = defaultdict(int)
    for hold in db["holds"]:
        if hold["state"] == "open":
            open_held[hold["account_id"]] += hold["amount"]
        if hold["state"] == "captured":
            capture = activity[hold["capture_activity_id"]]
            assert capture["type"] == "redeem" and capture["hold_id"] == hold["id"]
            assert capture["amount"] == hold["captured_amount"] <= hold["amount"]

    liability: Counter[str] = Counter()
    system: Counter[str] = Counter()
    for row in db["accounts"]:
        if row["kind"] == "system":
            assert row["balance"] == 0 and row["held"] == 0, "a system account row was updated"
            system[row["currency"]] += by_account[row["id"]]
            continue
        card_id, balance, held = row["id"], row["balance"], row["held"]
        assert balance == by_account[card_id] == lots_of[card_id], f"{card_id} drifted"
        assert balance >= 0 and held >= 0 and balance - held >= 0
        assert held == open_held[card_id], f"{card_id} held != its open holds"
        liability[row["currency"]] += balance
    assert all(liability[c] == -system[c] for c in set(liability) | set(system))

    last: dict[str, dict[str, Any]] = {}
    refunded: Counter[str] = Counter()
    for row in db["activities"]:  # ordered by id: oldest first
        last[row["account_id"]] = row
        if row["lot_movements"]:
            moved = sum(amount for _, amount in row["lot_movements"])
            own = sum(
                p["amount"]
                for p in db["postings"]
                if p["activity_id"] == row["id"] and p["account_id"] == row["account_id"]
            )
            assert moved == own, f"lot movements of {row['id']} differ from its postings"
            if row["type"] in ("redeem", "adjust_decrement") and not row["hold_id"]:
                for lot_id, amount in row["lot_movements"]:
                    expires = lot_expiry[lot_id]
                    assert amount > 0 or expires is None or expires > row["created_at"], (
                        f"{row['id']} spent value of {lot_id} past its expiry"
                    )
        if row["redeem_activity_id"]:
            refunded[row["redeem_activity_id"]] += row["amount"]
    for redeem_id, total in refunded.items():
        assert total <= activity[redeem_id]["amount"], "a redemption was refunded twice over"
    for card in db["gift_cards"]:
        latest = last[card["id"]]
        assert latest["balance_after"] == account[card["id"]]["balance"]
        assert latest["state_after"] == card["state"]

    announced: Counter[str] = Counter()
    sequences: defaultdict[str, list[int]] = defaultdict(list)
    for event in db["events"]:
        if event["type"] in ACTIVITY_EVENTS:
            announced[event["data"]["activity"]["id"]] += 1
        if event["account_id"] is not None:
            sequences[event["account_id"]].append(event["sequence"])
    assert set(announced) == set(activity), "an activity without its event, or the reverse"
    assert all(count == 1 for count in announced.values())
    for row in db["accounts"]:
        expected = list(range(1, row["version"] + 1))
        assert sorted(sequences[row["id"]]) == expected, f"event sequence gap on {row['id']}"
