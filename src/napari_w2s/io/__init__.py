"""Reading widefield stacks and W2S data sets, writing OME-TIFF with provenance."""

from .provenance import read_provenance
from .read import is_readable_path, read_stack
from .stack import Stack, canonical_axes
from .tiff import save_npy, write_ome_tiff
from .w2s_layout import (
    HR_PIXEL_UM,
    LR_PIXEL_UM,
    ProcessedSplit,
    detect_w2s_layout,
    processed_splits,
    raw_views,
    read_processed_split,
    read_w2s_view_stack,
    view_channels,
)

__all__ = [
    "HR_PIXEL_UM",
    "LR_PIXEL_UM",
    "ProcessedSplit",
    "Stack",
    "canonical_axes",
    "detect_w2s_layout",
    "is_readable_path",
    "processed_splits",
    "raw_views",
    "read_processed_split",
    "read_provenance",
    "read_stack",
    "read_w2s_view_stack",
    "save_npy",
    "view_channels",
    "write_ome_tiff",
]
