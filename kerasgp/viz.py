"""Drawing for the lessons: a skeleton on an image (matplotlib is imported only when called)."""
from __future__ import annotations

import numpy as np


def side_colour(joint_name: str) -> str:
    """Left joints blue, right joints red, the rest (neck, head, nose) green."""
    return {"l_": "tab:blue", "r_": "tab:red"}.get(joint_name[:2], "tab:green")


def draw_pose(ax, keypoints, visibility, layout, marker_size: float = 14, line_width: float = 1.8):
    """Limbs between two visible joints, coloured by side (green where the ends differ), and the joints."""
    keypoints, visibility = np.asarray(keypoints), np.asarray(visibility)
    names = layout.joint_names
    for a, b in layout.skeleton:
        if visibility[a] > 0 and visibility[b] > 0:
            ca, cb = side_colour(names[a]), side_colour(names[b])
            ax.plot(*keypoints[[a, b]].T, "-", color=ca if ca == cb else "tab:green", lw=line_width)
    shown = np.flatnonzero(visibility > 0)
    ax.scatter(*keypoints[shown].T, s=marker_size, c=[side_colour(names[j]) for j in shown],
               edgecolors="white", linewidths=0.6, zorder=3)


def show_image(ax, image, title: str = ""):
    ax.imshow(image)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
