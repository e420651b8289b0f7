"""Tenants, their apps, members and roles, API keys, and the audit log."""
