"""The lean send path: ``POST /v1/messages`` served beside Django (cpaas/asgi.py routes it here).

One module per stage: http.py (which requests, the answer's headers), admit.py (key, limits,
validation, money: the Django view's own functions), commit.py (the group commit), app.py (the
handler that runs them in order). docs/architecture.md walks one SMS through them; decision 1010
says why.
"""
