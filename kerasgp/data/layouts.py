"""Joint layouts: names, flip pairs and skeletons for LSP-14, MPII-16 and COCO-17.

Indices are 0-based in each data set's own order. `flip_pairs` swap left and right when an image is
mirrored; `skeleton` lists the limbs drawn in the lessons. COCO's `sigmas` are the per-keypoint OKS
constants of the COCO keypoint evaluation (cocodataset.org/#keypoints-eval).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointLayout:
    name: str
    joint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None
    # Joints whose segment is the PCKh head size (None where the layout has no such pair).
    head_segment: tuple[int, int] | None = None
    # PCK@0.2 torso: the joints whose distance is the torso size.
    torso_segment: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def flip_permutation(self) -> np.ndarray:
        """Index array p such that keypoints[p] is the joint order after a horizontal flip."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, joint_name: str) -> int:
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise ValueError(f"{self.name} has no joint {joint_name!r}; joints are {list(self.joint_names)}") from None


LSP14 = JointLayout(
    name="lsp14",
    joint_names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
                 "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top"),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    skeleton=((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 12), (12, 9), (9, 10),
              (10, 11), (12, 13), (2, 8), (3, 9)),
    head_segment=(12, 13),
    # The LSP PCK convention: torso = left shoulder to right hip.
    torso_segment=(9, 2),
)

MPII16 = JointLayout(
    name="mpii16",
    joint_names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
                 "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow",
                 "l_wrist"),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11),
              (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
    head_segment=(8, 9),
    torso_segment=(13, 2),
)

COCO17 = JointLayout(
    name="coco17",
    joint_names=("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
                 "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle",
                 "r_ankle"),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's own skeleton (1-based in the JSON), converted to 0-based.
    skeleton=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
              (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    # COCOeval's kpt_oks_sigmas (the keypoint-eval page prints them x10: .26, .25, ...).
    sigmas=(.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089, .089),
    torso_segment=(5, 12),
)

LAYOUTS = {layout.name: layout for layout in (LSP14, MPII16, COCO17)}

# MPII-16 index of each LSP-14 joint: LSP is MPII less pelvis and thorax.
MPII_TO_LSP = np.array([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9])


def get_layout(name: str) -> JointLayout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown joint layout {name!r}; known: {sorted(LAYOUTS)}")
    return LAYOUTS[name]
