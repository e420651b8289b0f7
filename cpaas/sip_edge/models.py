"""SIP endpoints and their registrations.

``SipEndpoint`` is ours: a username and the HA1 digest of its password (never the password), per app
and mode. ``SipRegistration`` maps the registrar table Kamailio writes (usrloc in DB-only mode, table
``sip_location``, its schema version 9): our migrations create it, Kamailio owns its rows, and the
API only reads them and deletes them when an endpoint is disabled or deleted (decision 1121).
Kamailio reads credentials from the view ``sip_subscriber`` over ``sip_endpoint`` (enabled rows only).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cpaas.core.ids import id_field
from cpaas.core.scoping import Scoping


class SipEndpoint(models.Model):
    """A username/password a softphone or desk phone registers with, in its app's SIP domain."""

    id = id_field("sep")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    app = models.ForeignKey("tenants.App", on_delete=models.PROTECT, related_name="sip_endpoints")
    mode = models.CharField(max_length=4)  # "test" or "live": each mode has its own SIP domain
    scoping = Scoping.app()
    username = models.CharField(max_length=32)
    # The digest realm and the registrar's domain key: the first label of the SIP domain
    # (`01jd…` live, `01jd…-test` test), independent of SIP_DOMAIN (decision 1120).
    realm = models.CharField(max_length=40)
    ha1 = models.CharField(max_length=32)  # md5(username:realm:password), hex
    display_name = models.CharField(max_length=100, blank=True, default="")
    caller_id = models.CharField(max_length=20, blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sip_endpoint"
        indexes = [models.Index(fields=["app", "mode", "id"], name="sip_endpoint_app_idx")]
        constraints = [
            models.UniqueConstraint(fields=["realm", "username"], name="sip_endpoint_unique_username"),
        ]


class SipRegistration(models.Model):
    """One contact a registered device left with Kamailio (a row of its usrloc table).

    Not scoped on its own: reached only through a scoped ``SipEndpoint`` (username + realm).
    ``expires`` and ``last_modified`` are naive UTC (Kamailio runs with TZ=UTC and writes
    ``timestamp without time zone``, its schema).
    """

    id = models.AutoField(primary_key=True)
    ruid = models.CharField(max_length=64, default="")
    username = models.CharField(max_length=64, default="")
    domain = models.CharField(max_length=64, null=True)  # noqa: DJ001 (Kamailio's schema)  # the endpoint's realm
    contact = models.CharField(max_length=512, default="")
    received = models.CharField(max_length=128, null=True)  # noqa: DJ001 (Kamailio's schema)  # sip:IP:PORT the REGISTER came from
    path = models.CharField(max_length=512, null=True)  # noqa: DJ001 (Kamailio's schema)
    expires = models.DateTimeField()
    q = models.FloatField(default=1.0)
    callid = models.CharField(max_length=255, default="Default-Call-ID")
    cseq = models.IntegerField(default=1)
    last_modified = models.DateTimeField()
    flags = models.IntegerField(default=0)
    cflags = models.IntegerField(default=0)
    user_agent = models.CharField(max_length=255, default="")
    socket = models.CharField(max_length=64, null=True)  # noqa: DJ001 (Kamailio's schema)  # our socket it arrived on: proto:ip:port
    methods = models.IntegerField(null=True)
    instance = models.CharField(max_length=255, null=True)  # noqa: DJ001 (Kamailio's schema)
    reg_id = models.IntegerField(default=0)
    server_id = models.IntegerField(default=0)
    connection_id = models.IntegerField(default=0)
    keepalive = models.IntegerField(default=0)
    partition = models.IntegerField(default=0)

    class Meta:
        managed = False  # created by migration 0001 in Kamailio's own schema
        db_table = "sip_location"
