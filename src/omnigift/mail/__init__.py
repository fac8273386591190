"""E-mail to customers: queued with what caused it, rendered and sent by the worker."""
