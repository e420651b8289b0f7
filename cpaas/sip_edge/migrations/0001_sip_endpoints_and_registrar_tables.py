"""SIP endpoints, and the tables Kamailio reads and writes (decision 1121): ``sip_location`` in
Kamailio 5.6's usrloc schema (version 9), the credentials view ``sip_subscriber`` (auth_db's
subscriber schema, version 7, enabled endpoints only) and ``sip_version``, the version table
Kamailio checks (its core ``version_table`` parameter points here)."""

import cpaas.core.ids
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

LOCATION = """
CREATE TABLE sip_location (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    partition INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT sip_location_ruid_idx UNIQUE (ruid)
);
CREATE INDEX sip_location_account_contact_idx ON sip_location (username, domain, contact);
CREATE INDEX sip_location_expires_idx ON sip_location (expires);
CREATE INDEX sip_location_connection_idx ON sip_location (server_id, connection_id);
CREATE TABLE sip_version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT sip_version_table_name_idx UNIQUE (table_name)
);
INSERT INTO sip_version (table_name, table_version) VALUES ('sip_location', 9), ('sip_subscriber', 7);
"""

SUBSCRIBER = """
CREATE VIEW sip_subscriber AS
SELECT username, realm AS domain, ha1, ha1 AS ha1b, id AS endpoint_id, mode, app_id
FROM sip_endpoint WHERE enabled;
"""


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('tenants', '0003_tenant_require_two_factor'),
    ]

    operations = [
        migrations.CreateModel(
            name='SipRegistration',
            fields=[
                ('id', models.AutoField(primary_key=True, serialize=False)),
                ('ruid', models.CharField(default='', max_length=64)),
                ('username', models.CharField(default='', max_length=64)),
                ('domain', models.CharField(max_length=64, null=True)),
                ('contact', models.CharField(default='', max_length=512)),
                ('received', models.CharField(max_length=128, null=True)),
                ('path', models.CharField(max_length=512, null=True)),
                ('expires', models.DateTimeField()),
                ('q', models.FloatField(default=1.0)),
                ('callid', models.CharField(default='Default-Call-ID', max_length=255)),
                ('cseq', models.IntegerField(default=1)),
                ('last_modified', models.DateTimeField()),
                ('flags', models.IntegerField(default=0)),
                ('cflags', models.IntegerField(default=0)),
                ('user_agent', models.CharField(default='', max_length=255)),
                ('socket', models.CharField(max_length=64, null=True)),
                ('methods', models.IntegerField(null=True)),
                ('instance', models.CharField(max_length=255, null=True)),
                ('reg_id', models.IntegerField(default=0)),
                ('server_id', models.IntegerField(default=0)),
                ('connection_id', models.IntegerField(default=0)),
                ('keepalive', models.IntegerField(default=0)),
                ('partition', models.IntegerField(default=0)),
            ],
            options={
                'db_table': 'sip_location',
                'managed': False,
            },
        ),
        migrations.CreateModel(
            name='SipEndpoint',
            fields=[
                ('id', models.CharField(default=cpaas.core.ids.PrefixedId('sep'), editable=False, max_length=40, primary_key=True, serialize=False)),
                ('mode', models.CharField(max_length=4)),
                ('username', models.CharField(max_length=32)),
                ('realm', models.CharField(max_length=40)),
                ('ha1', models.CharField(max_length=32)),
                ('display_name', models.CharField(blank=True, default='', max_length=100)),
                ('caller_id', models.CharField(blank=True, default='', max_length=20)),
                ('enabled', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sip_endpoints', to='tenants.app')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenants.tenant')),
            ],
            options={
                'db_table': 'sip_endpoint',
                'indexes': [models.Index(fields=['app', 'mode', 'id'], name='sip_endpoint_app_idx')],
                'constraints': [models.UniqueConstraint(fields=('realm', 'username'), name='sip_endpoint_unique_username')],
            },
        ),
        migrations.RunSQL(LOCATION, reverse_sql="DROP TABLE sip_location; DROP TABLE sip_version;"),
        migrations.RunSQL(SUBSCRIBER, reverse_sql="DROP VIEW sip_subscriber;"),
    ]
