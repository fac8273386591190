"""The GraphQL documents the connector sends (integrations.md 1.3)."""

CARD_FIELDS = """
  id
  balance { amount currencyCode }
  initialValue { amount currencyCode }
  lastCharacters
  enabled
  deactivatedAt
  expiresOn
  note
"""

CREATE = (
    """
mutation create($input: GiftCardCreateInput!) {
  giftCardCreate(input: $input) {
    giftCard {"""
    + CARD_FIELDS
    + """}
    userErrors { code field message }
  }
}"""
)

CREDIT = """
mutation credit($id: ID!, $in: GiftCardCreditInput!) {
  giftCardCredit(id: $id, creditInput: $in) {
    giftCardCreditTransaction { id note amount { amount currencyCode } }
    userErrors { code field message }
  }
}"""

DEBIT = """
mutation debit($id: ID!, $in: GiftCardDebitInput!) {
  giftCardDebit(id: $id, debitInput: $in) {
    giftCardDebitTransaction { id note amount { amount currencyCode } }
    userErrors { code field message }
  }
}"""

UPDATE = """
mutation update($id: ID!, $input: GiftCardUpdateInput!) {
  giftCardUpdate(id: $id, input: $input) {
    giftCard { id expiresOn }
    userErrors { code field message }
  }
}"""

DEACTIVATE = """
mutation deactivate($id: ID!) {
  giftCardDeactivate(id: $id) {
    giftCard { id enabled deactivatedAt }
    userErrors { code field message }
  }
}"""

CARD = (
    """
query card($id: ID!) {
  giftCard(id: $id) {"""
    + CARD_FIELDS
    + """}
}"""
)

RECENT_TRANSACTIONS = """
query transactions($id: ID!, $after: String) {
  giftCard(id: $id) {
    id
    transactions(first: 20, after: $after, reverse: true) {
      nodes { id note processedAt }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

FIND = (
    """
query find($query: String!) {
  giftCards(first: 5, query: $query) {
    nodes {"""
    + CARD_FIELDS
    + """}
  }
}"""
)

PAGE = (
    """
query page($after: String) {
  giftCards(first: 100, after: $after) {
    nodes {"""
    + CARD_FIELDS
    + """}
    pageInfo { hasNextPage endCursor }
  }
}"""
)

# Customers (seed 002: a notified card's customer is uploaded to the shop first). Shopify's
# customerCreate answers the generic ``UserError``, which has no ``code``.
CUSTOMER_BY_EMAIL = """
query customer($query: String!) {
  customers(first: 1, query: $query) { nodes { id email } }
}"""

CUSTOMER_CREATE = """
mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id email }
    userErrors { field message }
  }
}"""
