"""Narvar Return & Exchange: returns refunded as gift cards or store credit (integrations.md 4)."""
