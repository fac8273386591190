"""Store credit wallets in the ledger: value accounts like a card's, without a code, told apart
from cards by their id (``sc_``), so every money path (activities, holds, expiry) takes either."""

from __future__ import annotations

WALLET_PREFIX = "sc_"
STORE_CREDIT = "store_credit"


def is_wallet_id(account_id: str) -> bool:
    return account_id.startswith(WALLET_PREFIX)
