"""Keeping external platforms in step with the ledger: integrations, mirrors, inbound
notifications, platform spends, reconciliation. Platform-agnostic: connectors do the talking."""
