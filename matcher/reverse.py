"""The reverse direction: for one resource (a call, a public-service need…), the initiatives that fit.

The same machinery the other way round: dense and BM25 search of the resource's text over the
initiatives covered by it, their orders fused (:func:`matcher.fusion.reciprocal_rank_fusion`), the
same eligibility checks per criterion (an initiative failing a hard one is left out), and the same
explanations.
"""

from __future__ import annotations

from datetime import date

from indexes import Encoder
from matcher.eligibility import check_all, is_eligible
from matcher.explain import Grounds, reasons_for, shared_words
from matcher.fusion import reciprocal_rank_fusion
from matcher.indexing import InitiativeIndex, ResourceIndex, resource_document
from matcher.schemas import InitiativeMatch, MatchQuery
from matcher.store import NotFoundError

__all__ = ["initiatives_for"]


def initiatives_for(
    index: ResourceIndex, encoder: Encoder, initiatives: InitiativeIndex, resource_id: str, k: int, today: date, *,
    candidates: int, rrf_k: int,
) -> list[InitiativeMatch]:
    """The ``k`` best eligible initiatives for ``resource_id``, searching ``candidates`` per search."""
    if resource_id not in index.resources:
        raise NotFoundError("resource", resource_id)
    resource = index.resources[resource_id]
    text = resource_document(resource, index.providers.get(resource.provider_id))
    covered = initiatives.covered.get(resource.coverage)
    if not covered.count:
        return []
    n = min(covered.count, max(candidates, k))
    vector = encoder.encode_queries([text])
    _, dense_found = initiatives.dense.search(vector, n, allowed=covered.dense)
    _, sparse_found = initiatives.sparse.search(text, n, allowed=covered.sparse)
    fused = reciprocal_rank_fusion(
        [{iid: rank for rank, iid in enumerate((i for i in found if i is not None), start=1)}
         for found in (dense_found[0], sparse_found)], k=rrf_k)
    out: list[InitiativeMatch] = []
    for iid in sorted(fused, key=lambda i: (-fused[i], i)):
        ini = initiatives.initiatives[iid]
        q = MatchQuery.from_initiative(ini)
        checks = check_all(resource, q, today)
        if not is_eligible(checks):
            continue
        out.append(InitiativeMatch(
            initiative_id=iid, title=ini.title, territory=ini.territory, score=round(fused[iid], 6),
            rank=len(out) + 1, checks=[x.model() for x in checks],
            reasons=reasons_for(q, resource, checks, Grounds(shared_words=tuple(shared_words(q.text, resource_id,
                                                                                            index.sparse)))),
        ))
        if len(out) >= k:
            break
    return out
