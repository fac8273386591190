"""The SQL the benchmark runs outside the service.

``SERVICE_*``: the statements the service executes for ONE redeem through
``POST /v1/gift-cards/{id}/activities``, copied verbatim from PostgreSQL's statement log
(``log_statement=all``) of a real request — SQLAlchemy's rendering with its ``$n::TYPE`` casts.
Sources: ``api/idempotency.py`` (run_activity, the short way), ``ledger/records.py``
(read_card_with_lots, write_planned), ``ledger/one_statement.py`` (write_rows). In the order the
service sends them, each its own transaction (no BEGIN, no COMMIT):

    SELECT gift_cards JOIN accounts, lots as JSON  read_card_with_lots (no lock)
    WITH ... SELECT count(*) FROM account          write_planned -> one_statement.write_rows:
                                                   account (if its version is still the one
                                                   read), lots, activity, postings, events and
                                                   the idempotency key with the response

If the service's redeem path changes, re-capture them (README.md says how) and update this file.
"""

from __future__ import annotations

SERVICE_READ_CARD = (
    "SELECT gift_cards.id, gift_cards.type, gift_cards.state, gift_cards.currency, "
    "gift_cards.code_hash, gift_cards.code_sealed, gift_cards.code_last4, "
    "gift_cards.pin_hash, gift_cards.pin_failures, gift_cards.pin_failures_since, "
    "gift_cards.initial_value, gift_cards.expires_at, gift_cards.customer_id, "
    "gift_cards.recipient, gift_cards.recipient_email, gift_cards.issued_channel, "
    "gift_cards.issued_integration_id, gift_cards.issued_location_id, gift_cards.metadata, "
    "gift_cards.created_at, accounts.balance, accounts.held, accounts.version, "
    "accounts.updated_at, (SELECT json_agg(json_build_array(lots.id, lots.kind, "
    "lots.remaining, lots.expires_at, lots.created_at) ORDER BY lots.id) AS json_agg_1 FROM "
    "lots WHERE lots.account_id = gift_cards.id AND lots.remaining > $1::BIGINT) AS "
    "open_lots FROM gift_cards JOIN accounts ON gift_cards.id = accounts.id WHERE "
    "gift_cards.id = $2::VARCHAR"
)
SERVICE_WRITE_ACTIVITY = (
    "WITH account AS ( UPDATE accounts SET balance = balance + $1, held = held + $2, "
    "version = version + $3, updated_at = $4::TIMESTAMP WITH TIME ZONE WHERE id = $5 AND "
    "(CAST($6 AS bigint) IS NULL OR version = CAST($6 AS bigint)) RETURNING id), card_state "
    "AS ( UPDATE gift_cards SET state = $7 FROM account WHERE gift_cards.id = account.id "
    "AND CAST($8 AS boolean) RETURNING gift_cards.id), moved AS ( UPDATE lots SET remaining "
    "= lots.remaining + m.moved FROM unnest(CAST($9::VARCHAR[] AS varchar[]), "
    "CAST($10::BIGINT[] AS bigint[])) AS m(id, moved), account WHERE lots.id = m.id "
    "RETURNING lots.id), new_lot AS ( INSERT INTO lots (id, account_id, kind, amount, "
    "remaining, expires_at, created_at) SELECT n.id, account.id, n.kind, n.amount, "
    "n.amount, n.expires_at, $4::TIMESTAMP WITH TIME ZONE FROM "
    "json_to_recordset(CAST($11::VARCHAR AS json)) AS n(id varchar, kind varchar, amount "
    "bigint, expires_at timestamptz), account RETURNING id), activity AS ( INSERT INTO "
    "activities (id, account_id, type, amount, currency, balance_after, state_after, "
    "reason, reference, metadata, channel, integration_id, location_id, api_key_id, "
    "staff_user_id, redeem_activity_id, hold_id, lot_movements, created_at) SELECT CAST($12 "
    "AS varchar), account.id, CAST($13 AS varchar), CAST($14 AS bigint), CAST($15 AS "
    "varchar), CAST($16 AS bigint), CAST($7 AS varchar), CAST($17 AS text), "
    "CAST($18::VARCHAR AS json), CAST($19::VARCHAR AS json), CAST($20 AS varchar), CAST($21 "
    "AS varchar), CAST($22 AS varchar), CAST($23 AS varchar), CAST($24 AS varchar), "
    "CAST($25 AS varchar), CAST($26 AS varchar), CAST($27::VARCHAR AS json), $4::TIMESTAMP "
    "WITH TIME ZONE FROM account RETURNING id), posting AS ( INSERT INTO postings "
    "(activity_id, account_id, currency, amount) SELECT activity.id, p.account_id, $15, "
    "p.amount FROM json_to_recordset(CAST($28::VARCHAR AS json)) AS p(account_id varchar, "
    "amount bigint), activity RETURNING id), event AS ( INSERT INTO events (id, type, "
    "account_id, sequence, data, created_at) SELECT e.id, e.type, e.account_id, e.sequence, "
    "e.data, $4::TIMESTAMP WITH TIME ZONE FROM json_to_recordset(CAST($29::VARCHAR AS "
    "json)) AS e(id varchar, type varchar, account_id varchar, sequence integer, data "
    'json), account RETURNING id), along AS ( INSERT INTO idempotency_keys ("api_key_id", '
    '"key", "request_hash", "status_code", "response_body", "response_sealed", "created_at") '
    "SELECT CAST($30::VARCHAR AS VARCHAR(40)), CAST($31::VARCHAR AS VARCHAR(255)), "
    "CAST($32::VARCHAR AS VARCHAR(64)), CAST($33::INTEGER AS INTEGER), CAST($34::VARCHAR AS "
    "TEXT), CAST($35::BOOLEAN AS BOOLEAN), CAST($36::TIMESTAMP WITH TIME ZONE AS TIMESTAMP "
    "WITH TIME ZONE) FROM account) SELECT count(*) AS written FROM account"
)

# The "minimal" transaction: BEGIN; conditional debit; one posting; COMMIT (4 round trips).
# postings.activity_id has a foreign key to activities, so the posting names the card's
# issuing activity (looked up once before the run); the FK check is part of the cost.
MINIMAL_DEBIT = (
    "UPDATE accounts SET balance = balance - $2::BIGINT, version = version + 1 "
    "WHERE id = $1::VARCHAR AND balance - held >= $2::BIGINT RETURNING balance"
)
MINIMAL_POSTING = (
    "INSERT INTO postings (activity_id, account_id, currency, amount) "
    "VALUES ($1::VARCHAR, $2::VARCHAR, 'USD', $3::BIGINT)"
)


def one_statement_redeem(card: str, idempotency_key: str, api_key_id: str) -> str:
    """The service's redeem as ONE statement: the same rows written (card debit with version,
    lot, activity, two postings, the event with the activity and card views, the idempotency key
    with the stored response), the conditional debit refusing an overdraw. ``card`` and
    ``idempotency_key`` are SQL expressions (a pgbench lookup or an asyncpg parameter).
    Burns from the card's first lot with value (the benchmark's cards have one lot)."""
    return f"""WITH c AS (SELECT {card} AS id),
d AS (
  UPDATE accounts a SET balance = a.balance - 1, version = a.version + 1, updated_at = now()
  FROM c WHERE a.id = c.id AND a.balance - a.held >= 1
  RETURNING a.id, a.balance, a.version, a.updated_at),
l AS (
  UPDATE lots SET remaining = remaining - 1
  WHERE id = (SELECT lots.id FROM lots JOIN d ON lots.account_id = d.id
              WHERE lots.remaining >= 1 ORDER BY lots.id LIMIT 1)
  RETURNING id),
act AS (
  INSERT INTO activities (id, account_id, type, amount, currency, balance_after, state_after,
                          reference, metadata, channel, api_key_id, lot_movements, created_at)
  SELECT 'act_' || gen_random_uuid(), d.id, 'redeem', 1, 'USD', d.balance, 'active',
         'null'::json, 'null'::json, 'api', '{api_key_id}',
         json_build_array(json_build_array(l.id, -1)), d.updated_at
  FROM d, l
  RETURNING id, account_id, balance_after, created_at),
p AS (
  INSERT INTO postings (activity_id, account_id, currency, amount)
  SELECT act.id, x.account_id, 'USD', x.amount
  FROM act CROSS JOIN LATERAL (VALUES (act.account_id, -1::bigint),
                                      ('sys_redeemed_USD'::varchar, 1::bigint))
       AS x(account_id, amount)
  RETURNING 1),
v AS (
  SELECT act.id, json_build_object(
    'id', act.id, 'gift_card_id', act.account_id, 'type', 'redeem',
    'amount', json_build_object('amount', 1, 'currency', 'USD'),
    'balance_after', json_build_object('amount', act.balance_after, 'currency', 'USD'),
    'state_after', 'active', 'reference', NULL, 'reason', NULL, 'metadata', '{{}}'::json,
    'redeem_activity_id', NULL, 'hold_id', NULL,
    'origin', json_build_object('channel', 'api', 'integration_id', NULL, 'location_id', NULL,
                                'api_key_id', '{api_key_id}', 'staff_user_id', NULL),
    'created_at', act.created_at) AS view
  FROM act),
e AS (
  INSERT INTO events (id, type, account_id, sequence, data, created_at)
  SELECT 'evt_' || gen_random_uuid(), 'gift_card.activity.created', d.id, d.version,
    json_build_object('activity', v.view, 'gift_card', json_build_object(
      'id', g.id, 'type', g.type, 'state', g.state, 'code_last4', g.code_last4,
      'masked_code', '**** **** **** ' || g.code_last4,
      'balance', json_build_object('amount', d.balance, 'currency', g.currency),
      'available', json_build_object('amount', d.balance, 'currency', g.currency),
      'initial_value', json_build_object('amount', g.initial_value, 'currency', g.currency),
      'currency', g.currency, 'expires_at', g.expires_at, 'customer_id', g.customer_id,
      'recipient', g.recipient,
      'issued_via', json_build_object('channel', g.issued_channel,
                                      'integration_id', g.issued_integration_id,
                                      'location_id', g.issued_location_id),
      'pin_required', g.pin_hash IS NOT NULL, 'metadata', g.metadata,
      'created_at', g.created_at, 'updated_at', d.updated_at, 'version', d.version)),
    d.updated_at
  FROM d, v, gift_cards g WHERE g.id = d.id
  RETURNING 1)
INSERT INTO idempotency_keys (api_key_id, key, request_hash, status_code, response_body,
                              response_sealed, created_at)
SELECT '{api_key_id}', {idempotency_key}, md5(v.id), 201,
       encode(convert_to(v.view::text, 'UTF8'), 'base64'), true, now() FROM v;
"""


def pgbench_script(cards: int, hot: bool) -> str:
    """A pgbench script: the one-statement redeem on a random card (1..cards) of the
    ``bench_cards`` map, or always on the hot card (n = 0)."""
    pick = r"\set n 0" if hot else rf"\set n random(1, {cards})"
    statement = one_statement_redeem(
        "(SELECT card_id FROM bench_cards WHERE n = :n)",
        "'pgb_' || gen_random_uuid()",
        "key_bench_pgbench",
    )
    return f"{pick}\n{statement}"
