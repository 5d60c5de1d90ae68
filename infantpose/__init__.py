"""Infant 2D pose estimation learned from synthetic data: SHIFT, FiDIP and pose-difficulty sampling on one engine

Modules:

- `infantpose.api`: `Pose()` (the shipped model) or `Pose(model)`, then `pose("photo.jpg")`, `pose(array)` or `pose("clip.mp4")`: keypoints, scores and boxes of the infant, drawn with `.show()`, a video's outputs written with `.save(out_dir)`.
- `infantpose.coco`: COCO keypoint AP / AR through pycocotools, results lists with FiDIP's rescoring, a vectorised OKS, and bootstrap intervals over images of AP and of the difference of two models' AP.
- `infantpose.evalpose`: A pose score without a threshold: the similarity of the joint angles of a prediction and of the ground truth (our definition of Dua et al.'s EvalPose), invariant to translation, scale and in-plane rotation.
- `infantpose.evaluate`: Top-down inference with ground-truth boxes, flip test and DARK decoding; COCO AP under both area choices, PCK per joint, group and posture, bootstrap intervals over images, figures of the best and worst cases.
- `infantpose.metrics`: PCK, an exact replica of the TLL/UDAPE/SHIFT accuracy and a clean version on coordinates; bootstrap intervals over images, a ranking AUC and printable tables.
- `infantpose.video`: One infant followed through a video: the crop box carried from frame to frame, a box-free start, the 1€ filter on the keypoint trajectories, and the outputs a person reads (an annotated video, a CSV, COCO results, a figure of the motion)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    "`infantpose.Pose` (`infantpose.api`) is imported on first use, so that `import infantpose` does not import torch."
    if name == "Pose":
        from .api import Pose
        return Pose
    raise AttributeError(f"module 'infantpose' has no attribute {name!r}")
