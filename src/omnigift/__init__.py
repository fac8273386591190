"""Omnigift."""
