"""One rank of a distributed diffusers evaluation for tests/test_evaluate_diffusers.py, run by ``torchrun``.

``torchrun --standalone --nproc_per_node 2 tests/diffusers_eval_worker.py CONFIG.json KILL_RANK KILL_AFTER``
runs :func:`run_evaluation` with the EvalConfig in CONFIG.json; rank KILL_RANK dies abruptly
(``os._exit``, no clean-up, as a SIGKILL or a crashed node would) right after its KILL_AFTER-th item.
"""

from __future__ import annotations

import json
import os
import sys

import torch

from steering_core.evaluate import EvalConfig, run_evaluation


def main() -> None:
    config_path, kill_rank, kill_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    config = EvalConfig(**json.loads(open(config_path, encoding="utf-8").read()))
    done = []

    def on_item(record: dict) -> None:
        done.append(record["key"])
        if int(os.environ["RANK"]) == kill_rank and len(done) >= kill_after:
            os._exit(9)

    run_evaluation(config, on_item=on_item)


if __name__ == "__main__":
    main()
