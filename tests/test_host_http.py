"""The real ComfyUI 0.3.75 server (``main.py`` in a subprocess) loads both packs and runs a tiny graph over HTTP."""

from __future__ import annotations

import torch

from steering_core import SafetyDirection

from comfy_host import (
    PACK_NAME,
    TESTKIT_NAME,
    ComfyServer,
    make_base_dir,
    tiny_ksampler_graph,
)


def test_server_lists_nodes_and_runs_a_tiny_flux_graph(comfy, tmp_path) -> None:
    in_process = {node_id for node_id in comfy.node_class_mappings if node_id.startswith("SafeSteer")}
    with ComfyServer(make_base_dir(tmp_path / "base")) as server:
        log = server.log_text()
        assert "IMPORT FAILED" not in log, log
        assert f"custom_nodes/{PACK_NAME}" in log and f"custom_nodes/{TESTKIT_NAME}" in log, log

        info = server.object_info()
        served = {node_id for node_id in info if node_id.startswith("SafeSteer")}
        assert "SafeSteerTinyModel" in served
        assert in_process <= served, f"registered in-process but not served: {sorted(in_process - served)}"
        for node_id in served:
            pack = TESTKIT_NAME if node_id.startswith("SafeSteerTiny") else PACK_NAME
            assert info[node_id]["python_module"] == f"custom_nodes.{pack}", node_id
        assert info["SafeSteerTinyLatentStats"]["output_node"] is True

        entry = server.run(tiny_ksampler_graph("flux"))
        assert entry["status"]["status_str"] == "success", entry["status"]
        assert entry["status"]["completed"] is True
        stats = entry["outputs"]["stats"]
        assert stats["shape"] == [1, 16, 8, 8]
        assert stats["finite"] == [True]

        # the same graph again (a server caches unchanged nodes, so change the sampler seed and back)
        again = server.run(tiny_ksampler_graph("flux", sampler_seed=4))
        assert again["outputs"]["stats"]["sha256"] != stats["sha256"]

        # a direction of the wrong size: a node error naming the sizes and the fix; the server keeps serving
        folder = server.base_dir / "models" / "safety_directions"
        folder.mkdir(parents=True, exist_ok=True)
        SafetyDirection.from_vectors(torch.ones(1, 77), ["global"]).save(folder / "wrong_size.safetensors")
        bad = tiny_ksampler_graph("flux", sampler_seed=5)
        bad["load"] = {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": "wrong_size.safetensors"}}
        bad["steer"] = {"class_type": "SafeSteerDiTSteer", "inputs": {
            "model": ["model", 0], "direction": ["load", 0], "strength": 1.0, "mode": "add", "sites": "all",
            "stream": "both", "start_percent": 0.0, "end_percent": 1.0, "cond_only": True}}
        bad["sampler"]["inputs"]["model"] = ["steer", 0]
        failed = server.run(bad)
        assert failed["status"]["status_str"] == "error"
        error = next(data for event, data in failed["status"]["messages"] if event == "execution_error")
        assert error["node_id"] == "steer" and "size 77" in error["exception_message"], error
        assert server.run(tiny_ksampler_graph("flux", sampler_seed=6))["status"]["status_str"] == "success"
        assert "SafeSteerDiTSteer" in server.object_info()

        status, body = server.post_json("/prompt", {"prompt": tiny_ksampler_graph("flux", batch=10_000)})
        assert status == 400
        assert body["node_errors"]["latent"]["errors"][0]["type"] == "value_bigger_than_max"
    assert server.proc is not None and server.proc.poll() is not None, "the server is still running"
