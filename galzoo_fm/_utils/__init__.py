"""Plumbing shared by every stage: atomic writes, HTTP, tables, argument checks (private)."""
