"""Static pages served by the hub."""
