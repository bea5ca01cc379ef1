"""steering_core: SafeSteer's math, pure torch + numpy + safetensors + einops.

Safety directions (sign: unsafe -> safe), cross-model alignment fitted on benign anchors,
steering ops and SafeSteer files. Never imports ComfyUI; usable from any script.

    >>> import steering_core as sc
    >>> direction = sc.estimate_direction(safe_states, unsafe_states, safe_mask, unsafe_mask)
    >>> alignment = sc.fit_alignment(source_anchor_vectors, target_anchor_vectors, kind="ridge")
    >>> target_direction = alignment.transport(direction)
    >>> steered = sc.steer(target_hidden, target_direction, strength=3.0)

Sparse-autoencoder path (SafeDIG-style): ``rank_sites`` (robustness-aware routing), ``train_sae``
(TopK SAE from activation shards), ``select_safety_features``, ``adapt_decoder`` (encoder frozen),
``SAESteerer`` (Blend / Repel, gated per token), saved as a multi-site ``SafetySAE`` file.
"""

from .alignment.agreement import score_agreement
from .alignment.maps import MAP_KINDS, Alignment, LowCoverageWarning, PoorTransferWarning, fit_alignment, transport_report
from .directions.direction import (
    GLOBAL,
    SafetyDirection,
    calibrate_gates,
    cosine,
    direction_auroc,
    estimate_category_directions,
    estimate_direction,
    orthogonalize_categories,
)
from .errors import (
    DimensionMismatchError,
    NonFiniteError,
    PromptDataError,
    SafeSteerError,
    SafeSteerFileError,
    WrongFileKindError,
)
from .files.loading import load
from .directions.metrics import auroc, calibrate_threshold, projection_scores, r_squared
from .alignment.mlp_map import MLPTrainConfig
from .directions.pooling import pool
from .sae.activation_shards import ShardDataset, ShardWriter
from .directions.prompts import CATEGORIES, PromptPair, all_category_pairs, anchor_prompts, category_pairs, read_prompt_pairs, read_prompts, safe_anchor_prompts, sample_prompts, sample_prompts_and_rest, split_pairs
from .sae.routing import SiteScore, rank_sites, ranking_markdown
from .sae.autoencoder import SafetyFeatures, SparseAutoencoder
from .sae.adapt import AdaptReport, adapt_decoder
from .sae.features import select_safety_features
from .sae.steering import SAESteerConfig, SAESteerer
from .sae.train import SAETrainConfig, TrainReport, train_sae
from .sae.safety_sae import SafetySAE, SiteSAE, import_saelens
from .steering.ops import MODES, SteeringConfig, SteeringOp, steer
from .alignment.transport_report import TransportReport, TransportRow
from .directions.universal import universal_direction
from .alignment.transfer_report import SourceResult, TransferReport, TransferRow, transfer_report

__version__ = "0.1.0"

__all__ = [
    "Alignment", "CATEGORIES", "DimensionMismatchError", "GLOBAL", "LowCoverageWarning", "PoorTransferWarning", "score_agreement", "MAP_KINDS", "MLPTrainConfig",
    "MODES", "NonFiniteError", "PromptDataError", "PromptPair", "SafeSteerError", "SafeSteerFileError", "SafetyDirection",
    "SteeringConfig", "SteeringOp", "TransportReport", "TransportRow", "WrongFileKindError", "all_category_pairs",
    "anchor_prompts", "auroc", "calibrate_gates", "calibrate_threshold", "category_pairs", "cosine", "direction_auroc",
    "estimate_category_directions", "estimate_direction", "fit_alignment", "load", "orthogonalize_categories", "pool",
    "projection_scores", "r_squared", "read_prompt_pairs", "read_prompts", "safe_anchor_prompts", "sample_prompts", "sample_prompts_and_rest", "split_pairs", "steer",
    "transport_report",
    "universal_direction",
    # sparse autoencoders (SafeDIG path)
    "AdaptReport", "SAESteerConfig", "SAESteerer", "SAETrainConfig", "SafetyFeatures", "SafetySAE", "ShardDataset",
    "ShardWriter", "SiteSAE", "SiteScore", "SparseAutoencoder", "TrainReport", "adapt_decoder", "import_saelens",
    "rank_sites", "ranking_markdown", "select_safety_features", "train_sae",
    # transfer report (native / transferred / universal AUROC on held-out prompts)
    "SourceResult", "TransferReport", "TransferRow", "transfer_report",
]
