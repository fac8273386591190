"""Returns: a return refunded as a gift card or store credit, at once and exactly once."""
