"""SIP edge settings, read through ``cpaas.core.env`` (documented in docs/configuration.md).

Read as module attributes at the moment of use (``conf.SIP_DOMAIN``), so tests can monkeypatch them.
"""

from __future__ import annotations

from cpaas.core.env import env

# The platform's SIP domain: each app gets one domain per mode under it (decision 1120), e.g.
# `01jd….sip.example.com` (live) and `01jd…-test.sip.example.com` (test). A wildcard DNS record
# `*.sip.example.com` pointing at the edge lets phones find it by the domain alone.
SIP_DOMAIN = env.str("SIP_DOMAIN", "sip.localhost").strip().lower()
# host:port where Kamailio listens (UDP and TCP) and where the platform's SIP worker sends INVITEs
# for endpoints. Empty: no SIP edge (`make run` does not start Kamailio).
SIP_EDGE_ADDRESS = env.str("SIP_EDGE_ADDRESS", "").strip()
# host:port of the platform's SIP worker (the voice connector): INVITEs from endpoints to anything
# that is not an endpoint of their domain go there. Empty: such calls are answered 480.
SIP_WORKER_ADDRESS = env.str("SIP_WORKER_ADDRESS", "").strip()
# Networks (CIDR, comma separated) the platform's own user agents send from: an INVITE from one of
# them carrying a valid X-Cpaas-Trust token (keyed on SECRET_KEY) may call endpoints, from any port
# (voice workers placing outbound calls). Empty: the host of SIP_WORKER_ADDRESS (decision 1140).
SIP_TRUSTED_NETWORKS = env.str("SIP_TRUSTED_NETWORKS", "").strip()
# Failed digest authentications (wrong password, unknown user) before the edge answers 403 for the
# rest of the window: per source address, and per username (decision 1122).
SIP_AUTH_FAILURES_PER_ADDRESS = env.int("SIP_AUTH_FAILURES_PER_ADDRESS", 20)
SIP_AUTH_FAILURES_PER_USERNAME = env.int("SIP_AUTH_FAILURES_PER_USERNAME", 10)
SIP_AUTH_FAILURE_WINDOW_SECONDS = env.int("SIP_AUTH_FAILURE_WINDOW_SECONDS", 300)
# Longest registration a phone may ask for, in seconds (longer requests are cut to this).
SIP_REGISTER_MAX_EXPIRES = env.int("SIP_REGISTER_MAX_EXPIRES", 3600)
# SIP endpoints an app may have per mode; one more answers 409 `too_many_sip_endpoints`.
SIP_ENDPOINTS_PER_APP = env.int("SIP_ENDPOINTS_PER_APP", 1000)
