"""TRT node entry point (placeholder, replaced below)."""


def main() -> int:
    return 0
