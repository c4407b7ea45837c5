"""Prometheus Alertmanager: firing alerts on the target, as health signals."""
