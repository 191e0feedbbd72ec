"""Top-down pose estimation: heads, model building, decoding, evaluation (the pose study's package)."""
from .estimator import (HEADS, build_pose_model, decode, decode_heatmaps, decode_simcc, evaluate,
                        head_of, predict_keypoints, preprocessing_for)
from .flow import RealNVP  # the RLE flow, training only (see rle.RLELoss)
from .heads import heatmap_head, simcc_head
from .decoding import (FlipTestMerge, HeatmapArgmax, MirrorImage, PresenceScore, SimCCConfidence, SpatialConfidence,
                       ToInputPixels, deployable_model, flip_test_model, output_kind)
from .estimator import TFLitePoseModel, evaluate_coco, evaluate_file, load_pose_model
from .model import PoseModel
from .heads import (HEATMAP_FORMS, CosineLinear, SimCCDecode, SoftArgmax2D, dsnt_head, integral_head,
                    regression_head, sigma_head)
from .geometry import dsnt, dsnt_sigma, normalized_coordinates, pixel_coordinates, spatial_softmax
from .losses import (JointLoss, dsnt_per_joint, heatmap_mse_per_joint, presence_bce_per_joint, presence_score,
                     quality_focal_per_joint, simcc_cross_entropy_per_joint, simcc_kl_per_joint, smooth_l1_per_joint)
from .preprocess import BGR_UNIT, IMAGENET, InputNormalization
from .rle import OutputAsLoss, RLELoss, rle_loss_per_sample

__all__ = ["build_pose_model", "simcc_head", "heatmap_head", "decode", "decode_heatmaps", "head_of", "HEADS", "InputNormalization", "decode_simcc", "evaluate",
           "predict_keypoints", "preprocessing_for", "IMAGENET", "BGR_UNIT"]

__all__ += ["RealNVP", "JointLoss", "OutputAsLoss", "RLELoss", "dsnt", "dsnt_per_joint", "dsnt_sigma",
            "heatmap_mse_per_joint", "normalized_coordinates", "pixel_coordinates", "presence_bce_per_joint",
            "presence_score", "quality_focal_per_joint", "rle_loss_per_sample", "simcc_cross_entropy_per_joint",
            "simcc_kl_per_joint", "smooth_l1_per_joint", "spatial_softmax"]

__all__ += ["HEATMAP_FORMS", "CosineLinear", "SimCCDecode", "SoftArgmax2D", "dsnt_head", "integral_head",
            "regression_head", "sigma_head", "HeatmapArgmax", "PresenceScore", "SimCCConfidence",
            "SpatialConfidence", "ToInputPixels", "deployable_model", "output_kind", "TFLitePoseModel",
            "evaluate_coco", "evaluate_file", "load_pose_model", "FlipTestMerge", "MirrorImage", "flip_test_model",
            "PoseModel"]
