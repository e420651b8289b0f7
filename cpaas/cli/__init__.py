"""The ``cpaas`` command line: ``cpaas listen …`` (and ``python -m cpaas.cli …``)."""
