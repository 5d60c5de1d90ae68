"""Infant 2D pose estimation learned from synthetic data: SHIFT, FiDIP and pose-difficulty sampling on one engine

Modules:

- `infantpose.evaluate`: Top-down inference with ground-truth boxes, flip test and DARK decoding; COCO AP under both area choices, PCK per joint, group and posture, bootstrap intervals over images, figures of the best and worst cases."""

__version__ = "0.1.0"
