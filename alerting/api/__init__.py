"""The alerting HTTP API: operator and responder commands, silences, CAP export, delivery log."""
