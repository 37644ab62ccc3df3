"""Intended policy: its versions as uploaded or ingested from bundles."""
