"""Renderers: a Decision as text for people, JSON for machines, GitHub Actions output."""
