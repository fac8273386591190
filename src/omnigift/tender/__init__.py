"""The tender API's service: what a till asks (activate, load, redeem, hold, capture, reverse),
each keyed by the till's own transaction id. No HTTP here."""
