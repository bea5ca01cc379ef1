"""Evaluation harness: drive ComfyUI over HTTP with a workflow template, a prompt file and a strength
sweep; score the images (ASR through pluggable classifiers, CLIP-score, FID); resumable; CSV +
markdown + plot. Command line: ``python -m steering_core.evaluate --help``.

Nothing here imports ComfyUI: servers are reached over HTTP only. Optional packages (Pillow,
transformers, torchvision, nudenet) are imported only by the scorer that needs them.
"""

from .classifiers import (
    NUDENET_CLASS_SETS,
    NUDENET_LABELS,
    NUDENET_THRESHOLDS,
    CheckedClassifier,
    ClassifierResult,
    ClipProbeClassifier,
    ImageClassifier,
    NudeNetClassifier,
    build_classifier,
    classifier_key,
)
from .client import ComfyClient
from .clip_score import CLIP_SCORE_CONVENTION, ClipScorer
from .errors import (
    EvaluationError,
    MissingPackageError,
    MissingWeightsError,
    PromptFailed,
    ServerUnavailable,
    TemplateRejected,
)
from .fid import (
    ClipFeatures,
    InceptionFeatures,
    fid_from_features,
    frechet_distance,
    gaussian_stats,
)
from .prompts import PromptFile, PromptRow, read_prompt_file
from .report import ClassifierInfo, ImageRow, results_csv, summarise, summary_markdown
from .runner import EvalConfig, EvalResult, parse_strengths, run_evaluation
from .store import RunStore
from .template import Binding, WorkflowTemplate

__all__ = [
    "CLIP_SCORE_CONVENTION",
    "NUDENET_CLASS_SETS",
    "NUDENET_LABELS",
    "NUDENET_THRESHOLDS",
    "Binding",
    "CheckedClassifier",
    "ClassifierInfo",
    "ClassifierResult",
    "ClipFeatures",
    "ClipProbeClassifier",
    "ClipScorer",
    "ComfyClient",
    "EvalConfig",
    "EvalResult",
    "EvaluationError",
    "ImageClassifier",
    "ImageRow",
    "InceptionFeatures",
    "MissingPackageError",
    "MissingWeightsError",
    "NudeNetClassifier",
    "PromptFailed",
    "PromptFile",
    "PromptRow",
    "RunStore",
    "ServerUnavailable",
    "TemplateRejected",
    "WorkflowTemplate",
    "build_classifier",
    "classifier_key",
    "fid_from_features",
    "frechet_distance",
    "gaussian_stats",
    "parse_strengths",
    "read_prompt_file",
    "results_csv",
    "run_evaluation",
    "summarise",
    "summary_markdown",
]
