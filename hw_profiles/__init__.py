"""Hardware profile presets (YAML). Each number carries a comment naming its source."""
