"""Top-down pose estimation: heads, model building, decoding, evaluation (the pose study's package)."""
from .estimator import (HEADS, PREPROCESSING, build_pose_model, decode, decode_heatmaps, decode_simcc, evaluate,
                        head_of, predict_keypoints, preprocessing_for)
from .heads import heatmap_head, simcc_head
from .preprocess import BGR_UNIT, IMAGENET, InputNormalization

__all__ = ["build_pose_model", "simcc_head", "heatmap_head", "decode", "decode_heatmaps", "head_of", "HEADS", "InputNormalization", "decode_simcc", "evaluate",
           "predict_keypoints", "preprocessing_for", "PREPROCESSING", "IMAGENET", "BGR_UNIT"]
