"""Vision: pretrained backbones, heads, layer groups, ConvLearner, precompute, TTA, interpretation."""
