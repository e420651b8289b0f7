"""Carrier connectors, SMS and voice: one package per kind (listed in registry.py) behind the
interfaces of base.py. I/O only, no ORM."""
