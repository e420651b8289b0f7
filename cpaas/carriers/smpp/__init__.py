"""SMPP v3.4: SMSCs and aggregators (kind ``smpp``)."""

from cpaas.carriers.smpp.config import SmppConfig
from cpaas.carriers.smpp.connector import SmppConnector

__all__ = ["SmppConfig", "SmppConnector"]
