"""Customers: the people behind cards (and, later, store credit wallets), whatever channel they
came from; found by e-mail or phone, merged when one person was recorded twice."""
