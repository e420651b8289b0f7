"""Console: the message log with filters, a message's timeline and callbacks, blocked sends."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.dateparse import parse_date

import webhooks
from cpaas.console.access import console_view
from cpaas.messaging import infra, status_callbacks
from cpaas.messaging.models import Message, SmsSettings, Status
from cpaas.messaging.states import TIMESTAMP
from cpaas.tenants.models import App

PAGE = 50


@console_view()
def message_log(request):
    tenant = request.console_tenant
    queryset = Message.objects.filter(tenant=tenant)
    filters = {name: request.GET.get(name, "").strip() for name in ("app", "status", "to", "from", "day", "before")}
    if filters["app"]:
        queryset = queryset.filter(app_id=filters["app"])
    if filters["status"] in Status.values:
        queryset = queryset.filter(status=filters["status"])
    if filters["to"]:
        queryset = queryset.filter(to__startswith=filters["to"])
    if filters["from"]:
        queryset = queryset.filter(sender__startswith=filters["from"])
    day = parse_date(filters["day"]) if filters["day"] else None
    if day:
        queryset = queryset.filter(created_at__date=day)
    if filters["before"]:
        queryset = queryset.filter(pk__lt=filters["before"])
    rows = list(queryset.order_by("-pk")[: PAGE + 1])
    more = rows[PAGE - 1].pk if len(rows) > PAGE else None
    return render(request, "messaging/console/messages.html", {
        "messages_page": rows[:PAGE], "filters": filters, "statuses": Status.values, "next_before": more,
        "apps": App.objects.filter(tenant=tenant).order_by("name"),
    })


@console_view()
def message_detail(request, message_id: str):
    message = Message.objects.filter(tenant=request.console_tenant, pk=message_id).first()
    if message is None:
        raise Http404("No such message.")
    timeline = sorted(
        ((getattr(message, column), status) for status, column in TIMESTAMP.items()
         if getattr(message, column, None) is not None and not (status == "scheduled" and not message.send_at)),
        key=lambda item: item[0])
    callbacks = webhooks.callbacks_with_keys(
        message.app_id, [status_callbacks.callback_key(message.id, status) for status in status_callbacks.STATUSES]
    ) if message.status_callback else []
    return render(request, "messaging/console/message.html", {
        "message": message, "timeline": timeline, "callbacks": callbacks})


@console_view()
def protection(request):
    tenant = request.console_tenant
    apps = list(App.objects.filter(tenant=tenant).order_by("name"))
    settings_by_app = {row.app_id: row for row in SmsSettings.objects.filter(app__in=apps)}
    sections = [{"app": app, "settings": settings_by_app.get(app.pk),
                 "blocked": infra.fraud_recent(tenant.pk, app.pk)} for app in apps]
    return render(request, "messaging/console/protection.html", {"sections": sections})
