"""Datadog monitors in Alert or No Data, on the target, through datadog-api-client."""
