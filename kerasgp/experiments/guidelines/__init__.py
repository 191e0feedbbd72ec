"""ShuffleNetV2's four guideline experiments, re-run on this machine (Ma, Zhang, Zheng, Sun, "ShuffleNet V2:
Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018, Sec. 2, Tables 1-4, and the appendix
figure of the G3 building blocks; numbers from arXiv:1807.11164).

    python -m kerasgp guidelines --only G1,G3 --scales 1,2 --runtimes keras,tflite-int8 --runs 30

Each benchmark network stacks 10 blocks on a 56x56 feature map (batch 1, fixed shape):
- G1 (Table 1), equal channel width minimises memory access cost: a block is a 1x1 conv c1 -> c2 then a
  1x1 conv c2 -> c1; the four ratios 1:1, 1:2, 1:6, 1:12 keep c1*c2, hence the FLOPs, about fixed.
- G2 (Table 2), excessive group convolution increases MAC: 10 grouped 1x1 convs c -> c with g = 1, 2, 4, 8;
  c grows with g so that c*c/g, hence the FLOPs, stays about fixed.
- G3 (Table 3 and appendix Fig. 1), fragmentation reduces parallelism: a block of 1, 2 or 4 1x1 convs,
  in series or in parallel, at the FLOPs of the 1-fragment block of width c.
- G4 (Table 4), element-wise operations are not free: ResNet's bottleneck (1x1 -> 3x3 -> 1x1, ReLU after
  each and a shortcut), with the ReLUs and the shortcut removed separately.

What we chose where the paper is silent (simplifications, said here once):
- No BatchNorm and no bias anywhere: the paper times inference with "tensor fusion" on, where a BN folds
  into the conv; a bias would add an element-wise AddBias, which is G4's subject, not G1-G3's.
- G1-G3 have no activations: the paper names only the convolutions.
- Widths: the paper gives one set of widths for its GPU column and a smaller one for its ARM ("CPU")
  column. We time on a CPU with one thread (TFLite), so `widths="arm"` (the default) builds the ARM
  column's networks; `widths="gpu"` builds the GPU column's (16x the MACs in G1).
- x2 and x4 multiply every width by 2 and 4 (the paper's columns: its ARM speeds fall ~4x per step).
- G1: the paper's integer channel pairs equalise FLOPs only within ~5.5% (c1*c2 = 1024, 968, 1014, 972
  at ARM x1); we keep its pairs, and `macs_ratio` in the results shows the spread.
- G3: the appendix figure draws the arrangement only. Series: n convs of width round(c/sqrt(n)), so the
  block has the 1-fragment's FLOPs. Parallel: n branches read the block input (width c) and write c/n
  channels each, joined by a Concatenate as in an Inception block, so the block's width stays c and the
  FLOPs equal the 1-fragment's without an element-wise merge (which would mix G4 into G3). The merge
  op is our reading of the figure.
- G4: "c is the number of channels in unit": the unit's input/output width, with ResNet's bottleneck
  width c/4 (the paper's ARM speeds fit this: with a c-wide bottleneck the ARM would run 4x faster than
  in Table 2). ReLU follows each of the first two convs and the shortcut's Add, as in ResNet v1;
  without the shortcut the third ReLU follows the last conv.

Runtimes: "keras" is Keras 3's compiled predict function (`predict_on_batch`, a tf.function on the
TensorFlow backend) with the backend's default threads (all cores); "tflite-float32" and "tflite-int8"
are the model converted by `kerasgp.deploy.convert` (int8 calibrated on seeded random-normal inputs) and
timed with one thread by the bench's interpreter (`kerasgp.deploy.bench`). The point of each table is the
ratio between settings timed in the same run (`relative_speed`), which is what stands beside the paper's ratios; the
absolute speeds depend on the machine and on what else it was running. So that a load that changes
during a run does not skew those ratios, the settings of one table column take turns, in `rounds`
rounds of runs/rounds timed runs each (`kerasgp.deploy.bench.interleaved_rounds`, the workbook's one timer;
the paper averaged 100 runs per network; we report medians).
"""
from __future__ import annotations

from .experiment import run
from .networks import BUILDERS, SETTINGS, Setting, build, g1_model, g2_model, g3_model, g3_widths, g4_model, settings
from .paper import BLOCKS, COLUMNS, GUIDELINES, INPUT_SIZE, PAPER, RUNTIMES, SCALES, WIDTHS
from .report import plot, table

__all__ = ["BLOCKS", "BUILDERS", "COLUMNS", "GUIDELINES", "INPUT_SIZE", "PAPER", "RUNTIMES", "SCALES", "SETTINGS",
           "WIDTHS", "Setting", "build", "g1_model", "g2_model", "g3_model", "g3_widths", "g4_model", "plot", "run",
           "settings", "table"]
