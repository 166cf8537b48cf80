"""The paper's published figures, quoted once, to be imported and never retyped.

Source: Zhang et al. (2024), MNRAS, "Scientific Preparation for CSST:
Classification of Galaxy and Nebula/Star Cluster Based on Deep Learning",
Tables 2-4. These are the paper's numbers, measured by its authors on their
machine and data; celestialclass reproduces Tables 2 and 3 from the model
definitions (`celestialclass.models.summary`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..schema import LCID_INPUT, LCID_RESIZE_INPUT

__all__ = ["Table3Row", "TABLE3", "TABLE2_TRAINABLE_PARAMS", "HR_CELESTIALNET_PARAMS",
           "HR_CELESTIALNET_GMACS", "Table4Row", "TABLE4", "TABLE4_BLURRY_ACCURACY",
           "DATA_SET_INPUT"]

#: Input geometry (channels, rows, columns) of the paper's two data sets.
DATA_SET_INPUT = {"LCID": LCID_INPUT, "LCID-Resize": LCID_RESIZE_INPUT}


class Table3Row(NamedTuple):
    """One row of the paper's Table 3 (batch size 4)."""

    model: str          #: registry name in celestialclass
    paper_model: str    #: the name printed in the paper
    data_set: str       #: "LCID" or "LCID-Resize"
    input_mb: float
    model_mb: float
    total_gb: float


#: Table 3: input size (MB), model size (MB), estimated total size (GB).
TABLE3 = (
    Table3Row("alexnet", "AlexNet", "LCID-Resize", 1.53, 385.42, 0.44),
    Table3Row("alexnet", "AlexNet", "LCID", 128.0, 385.42, 6.21),
    Table3Row("vgg16-bn", "VGGNet", "LCID-Resize", 1.53, 904.22, 3.40),
    Table3Row("vgg16-bn", "VGGNet", "LCID", 128.0, 904.22, 211.14),
    Table3Row("resnet18", "ResNet", "LCID-Resize", 1.53, 42.62, 0.53),
    Table3Row("resnet18", "ResNet", "LCID", 128.0, 42.62, 41.17),
    Table3Row("hr-celestialnet", "HR-CelestialNet", "LCID", 128.0, 370.21, 32.79),
)

#: Table 2: trainable parameters of HR-CelestialNet's 12 convolutions and 3
#: fully connected layers, in order (the BatchNorm layers are omitted there).
TABLE2_TRAINABLE_PARAMS = (
    1_600, 100_416, 204_928, 409_728, 295_168, 590_080, 590_080, 590_080,
    1_180_160, 2_359_808, 2_359_808, 2_359_808, 69_210_112, 16_781_312, 8_194,
)
#: HR-CelestialNet's total parameters (Table 2's layers plus 6,848 BatchNorm affine).
HR_CELESTIALNET_PARAMS = 97_048_130
#: HR-CelestialNet's multiply-accumulates per 1 x 2048 x 4096 image, in units of 1e9.
HR_CELESTIALNET_GMACS = 177.94


class Table4Row(NamedTuple):
    """One row of the paper's Table 4 (its GPU machine; ms per sample)."""

    model: str
    paper_model: str
    data_set: str
    accuracy: float         #: percent
    f1_galaxy: float        #: percent
    f1_nsc: float           #: percent
    preprocessing_ms: float
    classification_ms: float
    total_ms: float


#: Table 4: results on the LCID test set, as published.
TABLE4 = (
    Table4Row("alexnet", "AlexNet", "LCID-Resize", 79.12, 78.75, 79.48, 120.6, 0.8, 121.4),
    Table4Row("alexnet", "AlexNet", "LCID", 77.18, 76.58, 77.75, 60.6, 35.8, 96.4),
    Table4Row("vgg16-bn", "VGGNet", "LCID-Resize", 88.28, 89.21, 87.17, 120.6, 4.7, 125.3),
    Table4Row("vgg16-bn", "VGGNet", "LCID", 87.46, 88.15, 86.68, 60.6, 260.5, 321.1),
    Table4Row("resnet18", "ResNet", "LCID-Resize", 86.27, 87.05, 85.39, 120.6, 5.8, 126.4),
    Table4Row("resnet18", "ResNet", "LCID", 87.65, 88.72, 86.35, 60.6, 56.9, 117.5),
    Table4Row("hr-celestialnet", "HR-CelestialNet", "LCID", 89.09, 90.20, 87.69, 60.6, 55.9, 116.5),
)

#: Accuracy (percent) on LCID-Blurry (116 chips), as published.
TABLE4_BLURRY_ACCURACY = {"hr-celestialnet": 84.48, "vgg16-bn": 78.45, "alexnet": 75.86, "resnet18": 75.00}
