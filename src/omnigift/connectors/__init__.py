"""Connectors: the code that speaks to one external platform each (Shopify, BigCommerce, ...).

A connector knows its platform's wire contract and the small protocol in ``base``; it knows nothing
of the database or of other connectors. The ``omnigift.sync`` package drives it.
"""
