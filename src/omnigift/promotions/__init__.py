"""Promotions: rules stored as data that grant promotional value when something happens (a card
bought, a refund taken as a gift card or store credit, an order completed)."""
