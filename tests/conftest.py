"""Shared pytest set-up: every test tree sees the project root on sys.path."""
