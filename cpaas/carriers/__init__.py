"""Carrier connectors: one package per connector behind the interfaces of base.py. I/O only, no ORM."""
