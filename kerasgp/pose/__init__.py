"""Top-down pose estimation: heads, model building, decoding, evaluation (the pose study's package)."""
from .estimator import (HEADS, build_pose_model, decode, decode_heatmaps, decode_simcc, evaluate,
                        head_of, predict_keypoints, preprocessing_for)
from .flow import RealNVP  # the RLE flow, training only (see rle.inference_model)
from .heads import heatmap_head, simcc_head
from .decoding import (FlipTestMerge, HeatmapArgmax, MirrorImage, PresenceScore, SimCCConfidence, SpatialConfidence,
                       ToInputPixels, deployable_model, flip_test_model, output_kind)
from .estimator import TFLitePoseModel, evaluate_coco, evaluate_file, load_pose_model
from .model import PoseModel
from .heads import (HEATMAP_FORMS, CosineLinear, SimCCDecode, SoftArgmax2D, dsnt_head, integral_head,
                    regression_head, sigma_head)
from .geometry import dsnt, dsnt_sigma, normalized_coordinates, pixel_coordinates, spatial_softmax
from .losses import (DSNTLoss, HeatmapMSELoss, PresenceBCE, QualityFocalLoss, SimCCCrossEntropy, SimCCKLDivergence,
                     SmoothL1Loss, dsnt_loss, heatmap_mse_loss, presence_bce, presence_score, quality_focal_loss,
                     simcc_cross_entropy, simcc_kl_divergence, smooth_l1_loss)
from .preprocess import BGR_UNIT, IMAGENET, InputNormalization
from .rle import OutputAsLoss, RLELoss, inference_model, rle_loss, rle_training_model

__all__ = ["build_pose_model", "simcc_head", "heatmap_head", "decode", "decode_heatmaps", "head_of", "HEADS", "InputNormalization", "decode_simcc", "evaluate",
           "predict_keypoints", "preprocessing_for", "IMAGENET", "BGR_UNIT"]

__all__ += ["RealNVP", "DSNTLoss", "HeatmapMSELoss", "OutputAsLoss", "PresenceBCE", "QualityFocalLoss", "RLELoss",
            "SimCCCrossEntropy", "SimCCKLDivergence", "SmoothL1Loss", "dsnt", "dsnt_loss", "dsnt_sigma",
            "heatmap_mse_loss", "inference_model", "normalized_coordinates", "pixel_coordinates", "presence_bce",
            "presence_score", "quality_focal_loss", "rle_loss", "rle_training_model", "simcc_cross_entropy",
            "simcc_kl_divergence", "smooth_l1_loss", "spatial_softmax"]

__all__ += ["HEATMAP_FORMS", "CosineLinear", "SimCCDecode", "SoftArgmax2D", "dsnt_head", "integral_head",
            "regression_head", "sigma_head", "HeatmapArgmax", "PresenceScore", "SimCCConfidence",
            "SpatialConfidence", "ToInputPixels", "deployable_model", "output_kind", "TFLitePoseModel",
            "evaluate_coco", "evaluate_file", "load_pose_model", "FlipTestMerge", "MirrorImage", "flip_test_model",
            "PoseModel"]
