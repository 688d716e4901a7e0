"""Web plumbing every app shares: the domain error type and its API answer,
pagination and rate limiting.

The bottom layer: it imports no app of ours (only Django and DRF), so every app
may import it.
"""
