"""The list of SafeSteer nodes ComfyUI registers, in menu order."""

from __future__ import annotations

from comfy_api.latest import io

from . import folders
from .align import AlignCrossModel, TransportDirection
from .apply_conditioning import ApplySafetySteering
from .direction_files import LoadSafetyDirection, SaveSafetyDirection
from .dit_steer import DiTSafetySteer
from .estimate import EstimateSafetyDirection
from .image_check import ImageSafetyCheck
from .monitor import SafetyMonitor, SafetyMonitorReport
from .multi_category import MultiCategorySteerConditioning, MultiCategorySteerModel
from .rank_sites import RankInterventionSites
from .sae_blend_repel import SAEBlendRepel
from .sae_files import LoadSafetySAE
from .sweep import SafetyComparisonGrid, SafetyStrengthSweep
from .train_sae import TrainSafetySAE
from .transfer_report import SafetyTransferReport
from .universal import UniversalDirection


def all_nodes() -> list[type[io.ComfyNode]]:
    folders.register()
    return [
        LoadSafetyDirection,
        SaveSafetyDirection,
        EstimateSafetyDirection,
        AlignCrossModel,
        TransportDirection,
        UniversalDirection,
        ApplySafetySteering,
        DiTSafetySteer,
        MultiCategorySteerModel,
        MultiCategorySteerConditioning,
        SafetyStrengthSweep,
        SafetyComparisonGrid,
        ImageSafetyCheck,
        RankInterventionSites,
        TrainSafetySAE,
        LoadSafetySAE,
        SAEBlendRepel,
        SafetyMonitor,
        SafetyMonitorReport,
        SafetyTransferReport,
    ]
