"""The ``cpaas`` command line, built on the SDK (``pip install 'cpaas-sdk[cli]'``). Guide: docs/cli.md."""
