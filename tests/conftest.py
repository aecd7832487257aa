"""Shared pytest configuration: fixtures live in tests/fixtures/ as plugins."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.emulator",
    "tests.fixtures.registry",
    "tests.fixtures.otlp",
    "tests.fixtures.sigterm",
]
