"""``python -m cpaas.cli`` still runs the ``cpaas`` command line, which now lives in the SDK
(``cpaas_sdk.cli``, installed by ``make install``; decision 1201)."""
