"""The SIP edge: SIP endpoints (the hosted PBX) that softphones and desk phones register with, and
the Kamailio in front of them (registrar, digest auth, proxy), configured by our code."""
