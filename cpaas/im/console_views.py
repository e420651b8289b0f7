"""IM console: online count and DAU chart, IM users, a conversation viewer. Tenant-scoped."""

from __future__ import annotations

from datetime import timedelta

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from cpaas.console.access import console_view
from cpaas.im.models import Conversation, ConversationKind, ImUser, Message
from cpaas.im.state import state
from cpaas.tenants.models import App

CHART_DAYS = 30


def _app(request) -> tuple[App | None, list[App]]:
    apps = list(App.objects.filter(tenant=request.console_tenant).order_by("created_at"))
    chosen = request.GET.get("app")
    app = next((a for a in apps if a.pk == chosen), apps[0] if apps else None)
    return app, apps


@console_view()
def overview(request):
    app, apps = _app(request)
    context = {"app": app, "apps": apps, "online": 0, "bars": [], "dau_today": 0}
    if app is not None:
        today = timezone.now().date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(CHART_DAYS - 1, -1, -1)]
        # The console shows both modes (a member sees test and live); Redis keeps them apart.
        counts = [sum(pair) for pair in zip(state().dau_history(app.pk, "live", days),
                                            state().dau_history(app.pk, "test", days), strict=True)]
        peak = max(counts) or 1
        context.update(
            online=state().online_count(app.pk, "live") + state().online_count(app.pk, "test"),
            dau_today=counts[-1],
            users=ImUser.objects.filter(app=app).count(),
            groups=Conversation.objects.filter(app=app, kind=ConversationKind.GROUP, dismissed_at__isnull=True).count(),
            rooms=Conversation.objects.filter(app=app, kind=ConversationKind.CHATROOM, dismissed_at__isnull=True)
            .order_by("-created_at")[:20],
            bars=[{"day": d, "count": c, "x": i * 20, "height": round(100 * c / peak), "y": 100 - round(100 * c / peak)}
                  for i, (d, c) in enumerate(zip(days, counts, strict=True))],
            peak=peak,
        )
    return render(request, "im/console/overview.html", context)


@console_view()
def users(request):
    app, apps = _app(request)
    rows = ImUser.objects.none()
    query = request.GET.get("q", "").strip()[:64]
    if app is not None:
        rows = ImUser.objects.filter(app=app).order_by("user_id")
        if query:
            rows = rows.filter(user_id__icontains=query)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    for user in page:
        user.online = state().is_online(app.pk, user.user_id)
        user.convs = list(Conversation.objects.filter(members__user=user).exclude(kind=ConversationKind.CHATROOM)
                          .order_by("-created_at")[:5])
    return render(request, "im/console/users.html", {"app": app, "apps": apps, "page": page, "q": query})


@console_view()
def conversation(request, conversation_id: str):
    conv = Conversation.objects.filter(pk=conversation_id, app__tenant=request.console_tenant).first()
    if conv is None:
        raise Http404("No such conversation.")
    before = request.GET.get("before_seq")
    messages = Message.objects.filter(conversation=conv)
    if before and before.isdigit():
        messages = messages.filter(seq__lt=int(before))
    rows = list(reversed(messages.order_by("-seq")[:50]))
    drops = state().room_drops(conv.app_id, conv.pk) if conv.kind == ConversationKind.CHATROOM else None
    return render(request, "im/console/conversation.html", {
        "conv": conv, "rows": rows, "older": rows[0].seq if rows and rows[0].seq > 1 else None, "drops": drops,
        "members": conv.members.select_related("user").order_by("user__user_id")[:100]})
