"""Helpers for the real-browser tests: start JupyterLab, drive it with Playwright in chromium."""
