"""The sharded batch on Ray Data: shards matched by ``map_batches`` on a pool of actors.

Each actor builds its :class:`~matcher.recommender.Recommender` once (``factory()``: the index and
model are loaded once per worker, not per shard), then turns one shard at a time into the bytes of its
file with the same functions as the local executor (:func:`eval.shards.match_shard`,
:func:`eval.shards.shard_file`), so a shard's file is byte for byte the one a single-machine run
writes. The driver receives the bytes and publishes them (:func:`eval.shards.run_sharded`), so the
output folder need not be reachable from the workers; the factory's home (index snapshot, models,
catalogue) must be, at the same path.

``ray`` is the optional extra ``maillage[distributed]``; it is imported only when this executor runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from eval.shards import EngineUnavailable, Executor, Shard, match_shard, shard_file
from matcher.recommender import Recommender
from matcher.schemas import Initiative

__all__ = ["ShardMatcher", "ray_executor"]

# No usage report leaves this machine (Ray asks at start otherwise); set before ray is imported.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


class ShardMatcher:
    """The callable class of ``map_batches``: one instance per actor, one shard per call."""

    def __init__(self, factory: Callable[[], Recommender], k: int, today: str, fmt: str) -> None:
        self.rec = factory()
        self.k, self.today, self.fmt = k, date.fromisoformat(today), fmt

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"shard": [], "data": [], "rows": []}
        for number, payload in zip(batch["shard"], batch["initiatives"], strict=True):
            initiatives = [Initiative.model_validate(x) for x in json.loads(payload)]
            cols = match_shard(self.rec, initiatives, k=self.k, today=self.today)
            out["shard"].append(int(number))
            out["data"].append(shard_file(cols, self.fmt))
            out["rows"].append(len(cols["rank"]))
        return out


def _connect(address: str | None, workers: int | None) -> bool:
    """Use the Ray already initialised in this process, else start one (``address``: join that
    cluster; None: a local Ray on this machine). True when this call started it."""
    try:
        import ray
    except ImportError as exc:
        raise EngineUnavailable("Ray n'est pas installé : pip install 'maillage[distributed]'") from exc
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # On loopback: Ray would otherwise find this machine's address by routing towards a public one.
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EngineUnavailable(f"impossible de joindre Ray à l'adresse {address or 'locale'} : {exc}") from exc
    return True


def ray_executor(
    factory: Callable[[], Recommender], *, k: int, today: date, fmt: str, workers: int | None = None,
    address: str | None = None,
) -> Executor:
    """Shards matched on Ray by ``workers`` actors (default: one per CPU of the cluster), each holding
    one recommender built by ``factory`` (which must pickle: a module-level class or function)."""

    def execute(shards: Iterable[Shard]) -> Iterator[tuple[int, bytes, int]]:
        items = [{"shard": number, "initiatives": json.dumps([i.model_dump(mode="json") for i in chunk])}
                 for number, chunk in shards]
        if not items:
            return
        started = _connect(address, workers)
        import ray
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the command draws its own bar, per finished shard
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            ds = ray.data.from_items(items, override_num_blocks=len(items))
            matched = ds.map_batches(
                ShardMatcher, batch_size=1, num_cpus=1,
                compute=ray.data.ActorPoolStrategy(size=min(size, len(items))),
                fn_constructor_kwargs={"factory": factory, "k": k, "today": today.isoformat(), "fmt": fmt},
            )
            try:
                for row in matched.iter_rows():
                    yield int(row["shard"]), bytes(row["data"]), int(row["rows"])
            except ray.exceptions.RayError as exc:
                first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                raise EngineUnavailable(f"échec d'un travailleur Ray : {first}") from exc
        finally:
            if started:
                ray.shutdown()

    return execute
