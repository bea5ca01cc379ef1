"""SAE Blend/Repel, activation harvesting, routing and SAE training on tiny random-weight ComfyUI models.

Block outputs are observed with the recording patches of test_dit_host: one installed before SafeSteer
(which must wrap it) and one after. Their difference is exactly SafeSteer's edit, compared here with
the core SAE op applied to what the inner recorder saw.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from steering_core.sae.safety_sae import SafetySAE, SiteSAE
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.sae.steering import SAESteerConfig, SAESteerer
from steering_core.steering.sites import Site

from test_dit_host import add_recorders, cond_rows, pack_module, sample

SAE_SITES = (Site("double", 1), Site("single", 1))  # the tiny models have 2 double + 2 single blocks


def harvest_mod(host):
    return pack_module(host, "comfy_harvest")


def prompts(host, n: int = 2):
    lp = harvest_mod(host).LabeledPrompt
    texts = ["a cat on a sofa", "a man fighting with a knife", "a quiet lake", "a burning car", "a red apple",
             "a bloody scene"]
    return [lp(texts[i], i % 2 == 1, "c", i // 2) for i in range(n)]


def txt_len_of(log, call_index: int, per_call: int) -> int:
    """Text length seen in one model call (from the last double block's recorded txt)."""
    recs = log[call_index * per_call:(call_index + 1) * per_call]
    return next(r.out["txt"].shape[1] for r in recs if r.site[0] == "double")


# ------------------------------------------------------------------------------ harvesting


def test_harvest_records_exactly_the_block_outputs(host, tm, te):
    model = tm.build_model("flux", seed=0)
    clip = te.build_clip("flux")
    sites = [("double", 0), ("double", 1), ("single", 1)]
    recorded, log = add_recorders(model, sites)
    got: list[tuple[int, Site, torch.Tensor, int]] = []
    harvest_mod(host).run_prompts(recorded, clip, prompts(host, 2), tm.make_latent("flux"), 2, 0, SAE_SITES, "img",
                                  lambda i, s, t, step: got.append((i, s, t.clone(), step)))
    calls = len(log) // len(sites)
    assert calls == 4  # 2 prompts x 2 steps, CFG 1: cond only
    for site in SAE_SITES:
        rows = [(i, t, step) for i, s, t, step in got if s == site]
        recs = [r for r in log if r.site == (site.kind, site.index)]
        assert len(recs) == calls
        assert len(rows) == calls  # one [T, H] block of tokens per call (batch of one prompt)
        for c, rec in enumerate(recs):
            img = rec.out["img"][0]
            if site.kind == "single":
                img = img[txt_len_of(log, c, len(sites)):]
            i, tokens, step = rows[c]
            assert torch.equal(tokens, img.to(torch.float32))
            assert (i, step) == (c // 2, c % 2)


def test_pooled_activations_are_token_means(host, tm, te):
    model = tm.build_model("wan21", seed=0)
    clip = te.build_clip("flux")  # T5-shaped conditioning of size 64, like the tiny Wan's text input
    recorded, log = add_recorders(model, [("double", 1)])
    pooled = harvest_mod(host).pooled_activations(recorded, clip, prompts(host, 2), tm.make_latent("wan21"), 2, 0,
                                                  (Site("double", 1),), "img")
    ref = torch.stack([torch.cat([r.out["img"][0].to(torch.float64) for r in log[2 * i:2 * i + 2]]).mean(0)
                       for i in range(2)])
    assert torch.allclose(pooled[Site("double", 1)].to(torch.float64), ref, atol=1e-5)


# ------------------------------------------------------------------------------ Blend / Repel inside the model


def hand_made_bundle(acts: torch.Tensor, d_sae: int = 256, k: int = 8, seed: int = 0) -> SafetySAE:
    """An SAE on real block activations whose 'harmful' latents fire on part of the tokens (not all)."""
    d = acts.shape[-1]
    acts = acts.reshape(-1, d)
    sae = SparseAutoencoder(d, d_sae, k=k, seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    with torch.no_grad():
        codes = sae.encode(acts)
    rate = (codes > 0).float().mean(0)
    order = torch.argsort((rate - 0.3).abs())       # latents active on about 30 % of tokens
    harmful = order[:3]
    safe = order[3:6]
    features = SafetyFeatures(harmful, torch.ones(3), torch.zeros(3), safe, torch.full((3,), 0.5),
                              harm_scale=float(codes[:, harmful].sum(-1).mean()) + 1e-3)
    return SafetySAE([SiteSAE(str(s), "img", sae.copy(), features) for s in SAE_SITES],
                     {"class": "Flux", "hidden_size": d})


def flux_tokens(host, tm, te, model) -> torch.Tensor:
    got: list[torch.Tensor] = []
    harvest_mod(host).run_prompts(model, te.build_clip("flux"), prompts(host, 2), tm.make_latent("flux"), 2, 0,
                                  SAE_SITES, "img", lambda i, s, t, step: got.append(t))
    return torch.stack(got)


@pytest.fixture(scope="module")
def flux_setup(host, tm, te):
    model = tm.build_model("flux", seed=0)
    return model, hand_made_bundle(flux_tokens(host, tm, te, model))


def blend_repel(host, model, bundle, beta, gamma, sites="all", start=0.0, end=1.0, cond_only=True, path="full"):
    node = host.node_class_mappings["SafeSteerSAEBlendRepel"]
    return node.execute(model, bundle, beta, gamma, sites, start, end, cond_only, path).result[0]


def test_zero_strengths_are_bit_identical_and_input_model_untouched(host, tm, flux_setup):
    model, bundle = flux_setup
    options = repr(model.model_options)
    baseline = sample(host, tm, model, "flux")
    assert torch.equal(sample(host, tm, blend_repel(host, model, bundle, 0.0, 0.0), "flux"), baseline)
    steered = sample(host, tm, blend_repel(host, model, bundle, 1.0, 1.0), "flux")
    assert not torch.equal(steered, baseline) and bool(torch.isfinite(steered).all())
    assert repr(model.model_options) == options
    assert torch.equal(sample(host, tm, model, "flux"), baseline)


@pytest.mark.parametrize("path", ["full", "fast"])
def test_edit_at_each_site_is_the_core_op_on_cond_rows_only(host, tm, flux_setup, path):
    model, bundle = flux_setup
    info = pack_module(host, "dit_adapter").inspect_model(model)
    sites = [("double", i) for i in range(info.num_double)] + [("single", i) for i in range(info.num_single)]
    inner_model, inner = add_recorders(model, sites)
    outer_model, outer = add_recorders(blend_repel(host, inner_model, bundle, 0.7, 1.0, path=path), sites)
    sample(host, tm, outer_model, "flux", cfg=2.0)
    config = SAESteerConfig(beta=0.7, gamma=1.0, path=path)
    refs = {Site(s.site.split(":")[0], int(s.site.split(":")[1])): SAESteerer(s.sae, s.features, config)
            for s in bundle}
    per_call = len(sites)
    n_gated = 0
    for c in range(len(inner) // per_call):
        txt_len = txt_len_of(inner, c, per_call)
        for a, b in zip(inner[c * per_call:(c + 1) * per_call], outer[c * per_call:(c + 1) * per_call], strict=True):
            site = Site(*a.site)
            rows = cond_rows(a, a.out["img"].shape[0])
            if site not in refs:
                for key in a.out:
                    assert torch.equal(a.out[key], b.out[key]), (site, key)
                continue
            img_a, img_b = a.out["img"], b.out["img"]
            start = txt_len if site.kind == "single" else 0
            expected = img_a.clone()
            expected[rows, start:] = refs[site](img_a[rows, start:])
            assert torch.equal(img_b[~rows], img_a[~rows])                       # uncond rows untouched
            assert torch.equal(img_b[:, :start], img_a[:, :start])               # text tokens untouched
            torch.testing.assert_close(img_b, expected, rtol=1e-5, atol=1e-5)
            untouched = ~refs[site].active_mask(img_a[rows, start:])
            assert torch.equal(img_b[rows, start:][untouched], img_a[rows, start:][untouched])
            n_gated += int((~untouched).sum())
    assert n_gated > 0


def test_sigma_window_and_site_subset(host, tm, flux_setup):
    model, bundle = flux_setup
    sites = [("double", 1), ("single", 1)]
    inner_model, inner = add_recorders(model, sites)
    steered = blend_repel(host, inner_model, bundle, 1.0, 1.0, sites="single:1", start=0.5, end=1.0)
    outer_model, outer = add_recorders(steered, sites)
    sample(host, tm, outer_model, "flux", cfg=1.0)
    changed = {(a.site, a.sigma) for a, b in zip(inner, outer, strict=True) if not torch.equal(a.out["img"], b.out["img"])}
    assert changed and {s for s, _ in changed} == {("single", 1)}
    sampling = model.get_model_object("model_sampling")
    limit = float(sampling.percent_to_sigma(0.5))
    assert all(sigma <= limit + 1e-6 for _, sigma in changed)
    assert len({sigma for _, sigma in changed}) < len({a.sigma for a in inner})  # early steps were left alone


# ------------------------------------------------------------------------------ errors


def test_wrong_hidden_size_and_missing_features_are_clear_errors(host, tm, flux_setup):
    model, bundle = flux_setup
    small = SparseAutoencoder(64, 128, k=4)
    feats = SafetyFeatures([0], [1.0], [0.0])
    wrong = SafetySAE([SiteSAE("double:1", "img", small, feats)])
    with pytest.raises(ValueError, match="size 64.*size 128|64.*128"):
        blend_repel(host, model, wrong, 1.0, 1.0)
    bare = SafetySAE([SiteSAE("double:1", "img", bundle.sites[0].sae, None)])
    with pytest.raises(ValueError, match="no harmful features"):
        blend_repel(host, model, bare, 1.0, 1.0)
    far = SafetySAE([SiteSAE("double:99", "img", bundle.sites[0].sae, bundle.sites[0].features)])
    with pytest.raises(ValueError, match="double:99"):
        blend_repel(host, model, far, 1.0, 1.0)


def test_wrong_file_kind_in_the_sae_folder_is_a_node_error(comfy, comfy_base):
    from steering_core import SafetyDirection

    folder = Path(comfy_base) / "models" / "safety_saes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "not_an_sae.safetensors"
    if not path.exists():
        SafetyDirection.from_vectors(torch.ones(1, 8), ["global"]).save(path)
    result = comfy.run({"load": {"class_type": "SafeSteerLoadSAE", "inputs": {"sae_name": path.name}},
                        "show": {"class_type": "PreviewAny", "inputs": {"source": ["load", 1]}}})
    assert "SafetyDirection" in result.error_message and "SafetySAE" in result.error_message


# ------------------------------------------------------------------------------ whole workflows (real executor)


def train_steer_graph(arch: str, filename: str, beta: float = 1.0, gamma: float = 1.0, load: str | None = None) -> dict:
    """TinyModel + tiny T5 CLIP -> Train Safety SAE (or Load Safety SAE) -> SAE Blend/Repel -> KSampler -> stats."""
    sites = "double:1, single:1" if arch == "flux" else "double:0, double:1"
    graph = {
        "model": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": arch, "seed": 0, "context_dim": 0, "pooled_dim": 0}},
        "clip": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "flux", "seed": 0}},
        "latent": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": arch, "batch": 1, "seed": -1}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": "a man stabbing someone in a kitchen"}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": ""}},
        "steer": {"class_type": "SafeSteerSAEBlendRepel", "inputs": {
            "model": ["model", 0], "sae": ["sae", 0], "beta": beta, "gamma": gamma, "sites": "all",
            "start_percent": 0.0, "end_percent": 1.0, "cond_only": True, "path": "fast"}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["steer", 0], "seed": 0, "steps": 3, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
        "stats": {"class_type": "SafeSteerTinyLatentStats", "inputs": {"latent": ["sampler", 0]}},
    }
    if load is None:
        graph["sae"] = {"class_type": "SafeSteerTrainSAE", "inputs": {
            "model": ["model", 0], "clip": ["clip", 0], "latent": ["latent", 0], "prompt_set": "all categories",
            "pairs_per_category": 2, "steps": 2, "seed": 0, "sites": sites, "stream": "img", "expansion": 2, "k": 8,
            "train_steps": 40, "tokens_per_step": 16, "n_harmful": 4, "source_categories": "sexual, violence, hate",
            "adapt_to": "held-out categories (benign only)", "filename": filename, "resume": True}}
    else:
        graph["sae"] = {"class_type": "SafeSteerLoadSAE", "inputs": {"sae_name": load}}
    return graph


@pytest.mark.parametrize("arch", ["flux", "wan21"])
def test_train_then_steer_in_one_run_then_load_gives_the_same_images(comfy, comfy_base, arch):
    folder = Path(comfy_base) / "models" / "safety_saes"
    before = set(folder.glob("*.safetensors")) if folder.exists() else set()
    trained = comfy.run(train_steer_graph(arch, f"e2e_{arch}")).raise_for_error()
    new = sorted(set(folder.glob("*.safetensors")) - before)
    assert len(new) == 1 and new[0].name.startswith(f"e2e_{arch}")
    summary = trained.ui("sae")["text"][0]
    assert "2 site(s)" in summary and "decoder adapted" in summary
    bundle = SafetySAE.load(new[0])
    assert all(s.features is not None and s.features.harmful.numel() > 0 for s in bundle)
    assert all(s.info["adapted"]["max_code_change"] == 0.0 for s in bundle)
    assert not (folder / ".work").exists() or not any((folder / ".work").iterdir())
    steered = trained.ui("stats")
    loaded = comfy.run(train_steer_graph(arch, "unused", load=new[0].name)).raise_for_error().ui("stats")
    assert loaded["sha256"] == steered["sha256"] and steered["finite"] == [True]
    off = comfy.run(train_steer_graph(arch, "unused", beta=0.0, gamma=0.0, load=new[0].name)).raise_for_error()
    assert off.ui("stats")["sha256"] != steered["sha256"]


# ------------------------------------------------------------------------------ routing node, resume, reuse


def test_rank_node_matches_core_routing_on_independently_recorded_activations(host, tm, te):
    from steering_core.sae.routing import rank_sites, ranking_markdown

    model = tm.build_model("flux", seed=0)
    sites = [("double", 0), ("double", 1), ("single", 0), ("single", 1)]
    recorded, log = add_recorders(model, sites)
    node = host.node_class_mappings["SafeSteerRankSites"]
    out = node.execute(recorded, te.build_clip("flux"), tm.make_latent("flux"), "all categories", 2, 1, 0,
                       "all", 2, "img", "auto", 0.5).result
    prompts_ = pack_module(host, "comfy_harvest").labeled_prompts(
        pack_module(host, "rank_sites").limited_pairs("all categories", "", 2))
    assert len(log) == len(sites) * len(prompts_)  # one step per prompt
    pooled: dict[str, list[torch.Tensor]] = {f"{k}:{i}": [] for k, i in sites}
    for c in range(len(prompts_)):
        recs = log[c * len(sites):(c + 1) * len(sites)]
        txt_len = next(r.out["txt"].shape[1] for r in recs if r.site[0] == "double")
        for r in recs:
            img = r.out["img"][0]
            img = img[txt_len:] if r.site[0] == "single" else img
            pooled[f"{r.site[0]}:{r.site[1]}"].append(img.to(torch.float64).mean(0).to(torch.float32))
    ranking = rank_sites({k: torch.stack(v) for k, v in pooled.items()}, torch.tensor([p.unsafe for p in prompts_]),
                         [p.category for p in prompts_], lam=0.5)
    assert out[1] == ranking_markdown(ranking)
    assert out[0] == ", ".join(s.site for s in ranking[:2])
    image = out[2]
    assert image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3 and image.shape[1] > 40


def test_cancelled_training_resumes_without_redoing_work_and_same_settings_reuse_the_file(host, tm, te, monkeypatch):
    import comfy.model_management as mm

    train = pack_module(host, "train_sae")
    model, clip, latent = tm.build_model("flux", seed=0), te.build_clip("flux"), tm.make_latent("flux")
    args = dict(prompt_set="all categories", pairs_per_category=2, steps=1, seed=0, sites="double:1", stream="img",
                expansion=2, k=8, train_steps=30, tokens_per_step=16, n_harmful=4, source_categories="all",
                adapt_to="benign anchors")

    def run(filename: str):
        return train.train_safety_sae(model, clip, latent, filename=filename, resume=True, **args)

    reference, ref_path, _ = run("resume_reference")
    harvests = []
    real_run_prompts = train.run_prompts
    monkeypatch.setattr(train, "run_prompts", lambda *a, **k: harvests.append(1) or real_run_prompts(*a, **k))
    calls = {"n": 0}
    work_root = Path(train.SAES.directory(), train.WORK_DIR)

    def cancel_during_training() -> None:
        if any(work_root.glob("resume_test-*/harvest.done")):  # harvesting is over: count training steps
            calls["n"] += 1
            if calls["n"] == 10:
                raise mm.InterruptProcessingException()

    monkeypatch.setattr(mm, "throw_exception_if_processing_interrupted", cancel_during_training)
    with pytest.raises(mm.InterruptProcessingException):
        run("resume_test")
    work = next(work_root.glob("resume_test-*"))
    assert (work / "harvest.done").exists() and list(work.glob("train-*.safetensors"))
    resumed, path, _ = run("resume_test")
    assert len(harvests) == 1  # the second run reused the harvested activations
    assert not work.exists()
    for a, b in zip(reference, resumed, strict=True):
        for name, t in a.sae.state_tensors().items():
            assert torch.equal(t, b.sae.state_tensors()[name]), name
        assert torch.equal(a.features.harmful, b.features.harmful)
    again, again_path, summary = run("resume_test")
    assert again_path == path and "reused" in summary and len(harvests) == 1
    assert Path(ref_path).name == "resume_reference.safetensors" and Path(path).name == "resume_test.safetensors"
