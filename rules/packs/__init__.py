"""Rule packs shipped with Shouwang (YAML, read with importlib.resources)."""
