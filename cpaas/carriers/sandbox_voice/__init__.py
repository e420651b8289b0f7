"""The sandbox voice network: a simulated telephone network for test keys and the embedded default."""
