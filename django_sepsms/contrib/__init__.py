"""Integrations with other packages, each importable without the package it serves."""
