"""Shopify: mirrors as native gift cards (GraphQL Admin API), spends learned from orders.

Contract: ``shared/research/integrations.md`` section 1.
"""
