"""Top-down pose estimation: heads, model building, decoding, evaluation (the pose study's package)."""
from .estimator import PREPROCESSING, build_pose_model, decode_simcc, evaluate, predict_keypoints, preprocessing_for
from .heads import simcc_head
from .preprocess import BGR_UNIT, IMAGENET, InputNormalization

__all__ = ["build_pose_model", "simcc_head", "InputNormalization", "decode_simcc", "evaluate",
           "predict_keypoints", "preprocessing_for", "PREPROCESSING", "IMAGENET", "BGR_UNIT"]
