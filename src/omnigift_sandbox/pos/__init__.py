"""A point-of-sale terminal simulator: drives the tender API like a till (ConnectPOS-style),
including going offline and catching up. See docs/pos-integration.md."""
