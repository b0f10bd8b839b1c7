"""Stage 3: the POG-supervised ResNet-18 scorer (training, inference, its STAC Item)."""
