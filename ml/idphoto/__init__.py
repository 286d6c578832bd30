"""ID photos: presets (presets.yaml), face finding, framing, compliance report, JPEG and print sheet, CLI."""
