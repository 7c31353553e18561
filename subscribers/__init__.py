"""Subscribers: the store, the subscription flows and the suppression list."""
