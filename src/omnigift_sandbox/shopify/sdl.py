"""The slice of the Shopify Admin GraphQL schema the simulator serves (integrations.md 1.3).

Names and nullability follow shopify.dev's reference for 2025-07; fields the simulator does not
model are left out, so a document asking for them fails validation as an unknown field would.
"""

SDL = """
scalar Decimal
scalar DateTime
scalar Date
scalar URL

enum CurrencyCode {
  USD EUR GBP CAD AUD NZD JPY CHF SEK NOK DKK PLN CZK HUF MXN BRL INR SGD HKD ZAR AED ILS KRW
}

enum GiftCardErrorCode {
  CUSTOMER_NOT_FOUND GIFT_CARD_LIMIT_EXCEEDED GREATER_THAN INTERNAL_ERROR INVALID
  MISSING_ARGUMENT RECIPIENT_NOT_FOUND TAKEN TOO_LONG TOO_SHORT
}

enum GiftCardDeactivateUserErrorCode { GIFT_CARD_NOT_FOUND }

enum GiftCardTransactionUserErrorCode {
  GIFT_CARD_LIMIT_EXCEEDED GIFT_CARD_NOT_FOUND INSUFFICIENT_FUNDS INTERNAL_ERROR INVALID
  MISMATCHING_CURRENCY NEGATIVE_OR_ZERO_AMOUNT
}

enum CountPrecision { EXACT AT_LEAST }

enum GiftCardSortKeys { CREATED_AT UPDATED_AT ID BALANCE INITIAL_VALUE EXPIRES_ON RELEVANCE }

interface Node { id: ID! }

type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Count { count: Int! precision: CountPrecision! }

type Customer implements Node {
  id: ID!
  email: String
  firstName: String
  lastName: String
  displayName: String!
}

type CustomerEdge { cursor: String! node: Customer! }

type CustomerConnection {
  edges: [CustomerEdge!]!
  nodes: [Customer!]!
  pageInfo: PageInfo!
}

input CustomerInput {
  email: String
  firstName: String
  lastName: String
  phone: String
  note: String
}

type UserError { field: [String!] message: String! }

type CustomerCreatePayload {
  customer: Customer
  userErrors: [UserError!]!
}

type Order implements Node { id: ID! name: String! }

type LineItem implements Node { id: ID! }

type Shop implements Node {
  id: ID!
  name: String!
  currencyCode: CurrencyCode!
  myshopifyDomain: String!
}

type GiftCard implements Node {
  id: ID!
  balance: MoneyV2!
  initialValue: MoneyV2!
  lastCharacters: String!
  maskedCode: String!
  enabled: Boolean!
  deactivatedAt: DateTime
  disabledAt: DateTime @deprecated(reason: "Use `deactivatedAt` instead.")
  expiresOn: Date
  note: String
  templateSuffix: String
  createdAt: DateTime!
  updatedAt: DateTime!
  customer: Customer
  order: Order
  lineItem: LineItem
  transactions(first: Int, after: String, last: Int, before: String, reverse: Boolean = false):
    GiftCardTransactionConnection
}

interface GiftCardTransaction {
  id: ID!
  amount: MoneyV2!
  processedAt: DateTime!
  note: String
  giftCard: GiftCard!
}

type GiftCardCreditTransaction implements GiftCardTransaction & Node {
  id: ID!
  amount: MoneyV2!
  processedAt: DateTime!
  note: String
  giftCard: GiftCard!
}

type GiftCardDebitTransaction implements GiftCardTransaction & Node {
  id: ID!
  amount: MoneyV2!
  processedAt: DateTime!
  note: String
  giftCard: GiftCard!
}

type GiftCardEdge { cursor: String! node: GiftCard! }

type GiftCardConnection {
  edges: [GiftCardEdge!]!
  nodes: [GiftCard!]!
  pageInfo: PageInfo!
}

type GiftCardTransactionEdge { cursor: String! node: GiftCardTransaction! }

type GiftCardTransactionConnection {
  edges: [GiftCardTransactionEdge!]!
  nodes: [GiftCardTransaction!]!
  pageInfo: PageInfo!
}

type GiftCardUserError {
  code: GiftCardErrorCode
  field: [String!]
  message: String!
}

type GiftCardDeactivateUserError {
  code: GiftCardDeactivateUserErrorCode
  field: [String!]
  message: String!
}

type GiftCardTransactionUserError {
  code: GiftCardTransactionUserErrorCode
  field: [String!]
  message: String!
}

type GiftCardCreatePayload {
  giftCard: GiftCard
  giftCardCode: String
  userErrors: [GiftCardUserError!]!
}

type GiftCardUpdatePayload { giftCard: GiftCard userErrors: [GiftCardUserError!]! }

type GiftCardDeactivatePayload {
  giftCard: GiftCard
  userErrors: [GiftCardDeactivateUserError!]!
}

type GiftCardCreditPayload {
  giftCardCreditTransaction: GiftCardCreditTransaction
  userErrors: [GiftCardTransactionUserError!]!
}

type GiftCardDebitPayload {
  giftCardDebitTransaction: GiftCardDebitTransaction
  userErrors: [GiftCardTransactionUserError!]!
}

input MoneyInput { amount: Decimal! currencyCode: CurrencyCode! }

input GiftCardRecipientInput {
  id: ID!
  message: String
  preferredName: String
  sendNotificationAt: DateTime
}

input GiftCardCreateInput {
  code: String
  initialValue: Decimal!
  customerId: ID
  expiresOn: Date
  note: String
  notify: Boolean = true
  recipientAttributes: GiftCardRecipientInput
  templateSuffix: String
}

input GiftCardUpdateInput {
  customerId: ID
  expiresOn: Date
  note: String
  recipientAttributes: GiftCardRecipientInput
  templateSuffix: String
}

input GiftCardCreditInput { creditAmount: MoneyInput! note: String processedAt: DateTime }

input GiftCardDebitInput { debitAmount: MoneyInput! note: String processedAt: DateTime }

type QueryRoot {
  giftCard(id: ID!): GiftCard
  giftCards(
    first: Int, after: String, last: Int, before: String, query: String,
    reverse: Boolean = false, sortKey: GiftCardSortKeys = ID
  ): GiftCardConnection!
  giftCardsCount(query: String, limit: Int = 10000): Count
  customers(first: Int, after: String, last: Int, before: String, query: String,
            reverse: Boolean = false): CustomerConnection!
  shop: Shop!
}

type Mutation {
  giftCardCreate(input: GiftCardCreateInput!): GiftCardCreatePayload
  giftCardUpdate(id: ID!, input: GiftCardUpdateInput!): GiftCardUpdatePayload
  giftCardDeactivate(id: ID!): GiftCardDeactivatePayload
  giftCardCredit(id: ID!, creditInput: GiftCardCreditInput!): GiftCardCreditPayload
  giftCardDebit(id: ID!, debitInput: GiftCardDebitInput!): GiftCardDebitPayload
  customerCreate(input: CustomerInput!): CustomerCreatePayload
}

schema { query: QueryRoot mutation: Mutation }
"""
