"""Presenters: typed use-case results as each door shows them (contract JSON, Block Kit)."""
