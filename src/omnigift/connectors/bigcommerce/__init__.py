"""BigCommerce: mirrors as v2 gift certificates, spends learned from orders.

Contract: ``shared/research/integrations.md`` section 2.
"""
