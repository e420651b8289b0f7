"""A generic HTTP upstream (kind ``http``): JSON POST per message, receipts by callback."""

from cpaas.carriers.http.config import HttpConfig
from cpaas.carriers.http.connector import HttpConnector

__all__ = ["HttpConfig", "HttpConnector"]
