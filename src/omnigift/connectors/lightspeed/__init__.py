"""Lightspeed Retail (R-Series): mirrors as gift card credit accounts, till spends polled in.

Contract: ``shared/research/integrations.md`` section 3 (3.1-3.4).
"""
