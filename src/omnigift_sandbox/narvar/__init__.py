"""A returns platform modelled on Narvar Return & Exchange: it sends RMA webhooks."""
