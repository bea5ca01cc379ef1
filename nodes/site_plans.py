"""Per-site token plans for ``dit_patch.install``: they live in the core (``steering_core.steering.site_plans``),
shared with the diffusers host."""

from steering_core.steering.site_plans import ActivationRecorder, SiteCallPlan, SitePlanner

__all__ = ["ActivationRecorder", "SiteCallPlan", "SitePlanner"]
