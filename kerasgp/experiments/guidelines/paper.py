"""The guideline experiments' constants and the paper's figures they are compared with (ShuffleNetV2,
arXiv:1807.11164, Sec. 2, Tables 1-4)."""
from __future__ import annotations

GUIDELINES = ("G1", "G2", "G3", "G4")
SCALES = (1, 2, 4)
RUNTIMES = ("keras", "tflite-float32", "tflite-int8")
WIDTHS = ("arm", "gpu")
INPUT_SIZE = 56  # "Input image size is 56 x 56" (captions of Tables 1-3)
BLOCKS = 10  # "stacking 10 building blocks" (Sec. 2, G1-G4)

# The paper's figures (arXiv:1807.11164, Sec. 2, Tables 1-4). "gpu": batches/s on one GTX 1080Ti with
# CUDNN 7.0 (the batch size is not stated in Sec. 2; Fig. 1 uses 8); "arm": images/s on a Qualcomm
# Snapdragon 810, one thread (Tables 2-4 head this column "CPU"). Speeds are (x1, x2, x4). "gpu_width" and
# "arm_width" are the x1 widths of each column: (c1, c2) in G1, c elsewhere. "kwargs" are the builder
# arguments that do not scale.
PAPER = {
    "G1": {"table": 1, "title": "equal channel width minimises memory access cost", "settings": {
        "1:1": {"gpu_width": (128, 128), "arm_width": (32, 32), "gpu": (1480, 723, 232), "arm": (76.2, 21.7, 5.3)},
        "1:2": {"gpu_width": (90, 180), "arm_width": (22, 44), "gpu": (1296, 586, 206), "arm": (72.9, 20.5, 5.1)},
        "1:6": {"gpu_width": (52, 312), "arm_width": (13, 78), "gpu": (876, 489, 189), "arm": (69.1, 17.9, 4.6)},
        "1:12": {"gpu_width": (36, 432), "arm_width": (9, 108), "gpu": (748, 392, 163), "arm": (57.6, 15.1, 4.4)},
    }},
    "G2": {"table": 2, "title": "excessive group convolution increases MAC", "settings": {
        "g=1": {"gpu_width": 128, "arm_width": 64, "kwargs": {"groups": 1}, "gpu": (2451, 1289, 437),
                "arm": (40.0, 10.2, 2.3)},
        "g=2": {"gpu_width": 180, "arm_width": 90, "kwargs": {"groups": 2}, "gpu": (1725, 873, 341),
                "arm": (35.0, 9.5, 2.2)},
        "g=4": {"gpu_width": 256, "arm_width": 128, "kwargs": {"groups": 4}, "gpu": (1026, 644, 338),
                "arm": (32.9, 8.7, 2.1)},
        "g=8": {"gpu_width": 360, "arm_width": 180, "kwargs": {"groups": 8}, "gpu": (634, 445, 230),
                "arm": (27.8, 7.5, 1.8)},
    }},
    "G3": {"table": 3, "title": "network fragmentation reduces the degree of parallelism", "settings": {
        "1-fragment": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 1, "arrangement": "series"},
                       "gpu": (2446, 1274, 434), "arm": (40.2, 10.1, 2.3)},
        "2-fragment-series": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 2, "arrangement": "series"},
                              "gpu": (1790, 909, 336), "arm": (38.6, 10.1, 2.2)},
        "4-fragment-series": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 4, "arrangement": "series"},
                              "gpu": (752, 745, 349), "arm": (38.4, 10.1, 2.3)},
        "2-fragment-parallel": {"gpu_width": 128, "arm_width": 64,
                                "kwargs": {"fragments": 2, "arrangement": "parallel"},
                                "gpu": (1537, 803, 320), "arm": (33.4, 9.1, 2.2)},
        "4-fragment-parallel": {"gpu_width": 128, "arm_width": 64,
                                "kwargs": {"fragments": 4, "arrangement": "parallel"},
                                "gpu": (691, 572, 292), "arm": (35.0, 8.4, 2.1)},
    }},
    "G4": {"table": 4, "title": "element-wise operations are non-negligible", "settings": {
        "relu+shortcut": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": True, "shortcut": True},
                          "gpu": (2427, 2066, 1436), "arm": (56.7, 16.9, 5.0)},
        "relu": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": True, "shortcut": False},
                 "gpu": (2647, 2256, 1735), "arm": (61.9, 18.8, 5.2)},
        "shortcut": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": False, "shortcut": True},
                     "gpu": (2672, 2121, 1458), "arm": (57.3, 18.2, 5.1)},
        "neither": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": False, "shortcut": False},
                    "gpu": (2842, 2376, 1782), "arm": (66.3, 20.2, 5.4)},
    }},
}

COLUMNS = ("guideline", "table", "setting", "scale", "widths", "channels", "macs", "macs_ratio", "memory_access",
           "params", "runtime", "threads", "runs", "median_ms", "p90_ms", "images_per_s", "relative_speed",
           "paper_gpu_batches_per_s", "paper_arm_images_per_s", "paper_gpu_relative", "paper_arm_relative",
           "device", "arch", "runtime_package", "xnnpack", "date")
