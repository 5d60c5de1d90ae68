"""Infant 2D pose estimation learned from synthetic data: SHIFT, FiDIP and pose-difficulty sampling on one engine

Modules:

- `infantpose.coco`: COCO keypoint AP / AR through pycocotools, results lists with FiDIP's rescoring, a vectorised OKS, and bootstrap intervals over images of AP and of the difference of two models' AP.
- `infantpose.evalpose`: A pose score without a threshold: the similarity of the joint angles of a prediction and of the ground truth (our definition of Dua et al.'s EvalPose), invariant to translation, scale and in-plane rotation.
- `infantpose.evaluate`: Top-down inference with ground-truth boxes, flip test and DARK decoding; COCO AP under both area choices, PCK per joint, group and posture, bootstrap intervals over images, figures of the best and worst cases.
- `infantpose.metrics`: PCK, an exact replica of the TLL/UDAPE/SHIFT accuracy and a clean version on coordinates; bootstrap intervals over images, a ranking AUC and printable tables."""

__version__ = "0.1.0"
