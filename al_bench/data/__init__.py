"""Data: COCO-format loading, the synthetic generator, splits, augmentation and target encoding."""
