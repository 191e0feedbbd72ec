"""Analysis tools of the papers: what a network costs (`cost`: params, MACs, activation memory and
ShuffleNetV2's memory access cost) and what one pass really takes (`peak_memory`, measured). One
import line per tool; the public names are the imported ones."""
from .cost import CostReport, cost
from .gradient_paths import GradientPathReport, gradient_paths
from .memory import PeakMemory, peak_memory
