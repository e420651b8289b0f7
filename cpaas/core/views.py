"""The base API view: key auth and scopes, rate-limit headers, idempotent POSTs, one envelope."""

from __future__ import annotations

import logging
from typing import TypeVar

from django.db import models
from django.db.models import QuerySet
from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView

from cpaas.core.auth import MANAGEMENT, WWW_AUTHENTICATE
from cpaas.core.idempotency import idempotency_begin, idempotent_write
from cpaas.core.scoping import scoped, scoped_get
from cpaas.tenants.keys import KeyPrincipal

M = TypeVar("M", bound=models.Model)

log = logging.getLogger(__name__)

_PLAIN_ACCEPT = frozenset({None, "", "*/*", "application/json"})


class ApiView(APIView):
    """Every ``/v1/`` endpoint derives from this.

    Subclasses set ``product`` (a key scope, ``ANY_PRODUCT`` or ``MANAGEMENT``) and reach tenant
    data only through ``self.scoped(Model)`` / ``self.get_scoped(Model, id)`` (or a selector or
    service given ``self.principal``), which filter by the key's app or tenant AND its mode: another
    mode's object is a 404 like another tenant's (cpaas/core/scoping.py).
    Writes (POST, PATCH, DELETE…) run inside one transaction, POSTs together with their idempotency
    record; reads run outside any transaction.
    """

    product: str = MANAGEMENT
    #: True when a POST handler writes with one statement (atomic by itself): without an
    #: Idempotency-Key it then runs in autocommit, saving the BEGIN and COMMIT round trips.
    single_statement_post: bool = False

    @property
    def principal(self) -> KeyPrincipal:
        return self.request.auth

    def scoped(self, model: type[M]) -> QuerySet[M]:
        """The rows of ``model`` the calling key may see and change (its owner and its mode)."""
        return scoped(model, self.principal)

    def get_scoped(self, model: type[M], pk: str, *, queryset: QuerySet[M] | None = None,
                   message: str | None = None, param: str = "id") -> M:
        """One row within the key's scope, or 404 ``not_found``."""
        return scoped_get(model, self.principal, pk, queryset=queryset, message=message, param=param)

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        claim = None
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            handler = handler or self.http_method_not_allowed
            if request.method == "POST" and handler is not self.http_method_not_allowed:
                claim = idempotency_begin(request, app_id=self.principal.app_id, mode=self.principal.mode)
            if request.method in SAFE_METHODS:
                response = handler(request, *args, **kwargs)
            elif claim is None and request.method == "POST" and self.single_statement_post:
                response = handler(request, *args, **kwargs)  # one statement: atomic by itself
            else:
                response = idempotent_write(claim, lambda: handler(request, *args, **kwargs),
                                            what=f"{request.method} {request.path}")
        except Exception as exc:
            response = self.handle_exception(exc)  # a claim was released by idempotent_write
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def perform_content_negotiation(self, request, force=False):
        """The API speaks JSON only: when the client accepts anything or JSON (nearly every call),
        answer without DRF's Accept parsing, which built the header map of the whole request."""
        renderers = self.get_renderers()
        accept = request._request.META.get("HTTP_ACCEPT")
        if (len(renderers) == 1 and accept in _PLAIN_ACCEPT and "format" not in self.kwargs
                and "format=" not in request._request.META.get("QUERY_STRING", "")):
            return renderers[0], renderers[0].media_type
        return super().perform_content_negotiation(request, force)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        admission = getattr(request, "rate_limit", None)
        if admission is not None:
            for name, value in admission.headers().items():
                response[name] = value
        if response.status_code == 401:
            response["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
