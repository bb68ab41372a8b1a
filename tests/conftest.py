"""The suite's shared fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.network",
    "tests.fixtures.browser",
    "tests.fixtures.app",
    "tests.fixtures.webrtc",
    "tests.fixtures.hygiene",
]
