"""SIP trunks (kind ``sip``): real calls over SIP with RTP media terminated in the worker.

Outbound legs are INVITEs to the trunk (digest auth, From/P-Asserted-Identity caller id,
PCMU/PCMA, RFC 4733 digits); prompts are espeak-ng speech or fetched audio sent as G.711 by one
20 ms ticker; bridged legs relay each other's RTP (decisions 1100, 1101).
"""

from cpaas.carriers.sip.config import SipConfig
from cpaas.carriers.sip.connector import SipVoiceConnector

__all__ = ["SipConfig", "SipVoiceConnector"]
