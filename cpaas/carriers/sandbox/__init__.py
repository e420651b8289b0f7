"""The sandbox (kind ``sandbox``): one simulated network with magic numbers, for SMS and voice.

Test keys always use it, and the embedded default; live traffic never does (decision 0823).
One package for both channels because it is one kind and one promise (docs/sandbox.md): the
``+1500555…`` numbers decide the outcome, whichever channel reaches them (decision 0940).
"""

from cpaas.carriers.sandbox.config import SandboxConfig
from cpaas.carriers.sandbox.connector import SandboxSmsConnector
from cpaas.carriers.sandbox.voice import SandboxVoiceConnector

__all__ = ["SandboxConfig", "SandboxSmsConnector", "SandboxVoiceConnector"]
