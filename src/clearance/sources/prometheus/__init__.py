"""Prometheus: error budgets burning too fast, evaluated through the HTTP API."""
