"""The sandbox connector: no network, deterministic outcomes chosen by magic destination numbers."""
