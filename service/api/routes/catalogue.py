"""The catalogue's records: initiatives, resources and providers, each listed (paginated, filtered),
read (with an ``ETag``), created or replaced (``If-Match`` guards a replace), and deleted.

Writes are acknowledged only after their transaction commits; resource writes are then applied to the
served index before the answer goes out, so the next match already sees them."""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Query, Request, Response

from matcher.schemas import Initiative, ItemId, Provider, Resource, TerritoryCode
from matcher.store import NotFoundError, content_hash
from service.api.deps import EngineDep, ReaderKey, WriterKey
from service.api.routing import ETAG_HEADER, error, v1_router
from service.api_models import InitiativeIn, Page, ProviderIn, ResourceIn
from service.audit import record
from service.engine import Engine
from service.guard import ApiError
from service.keys import ApiKey
from service.privacy import erase

__all__ = ["router"]

router = v1_router()


@dataclass(frozen=True)
class _Kind:
    """One kind of record: ``body_model`` is what writes accept (the record, its JSON types checked),
    ``write_errors`` what writes may answer besides the rest; no ``delete``, no DELETE route."""

    name: str
    model: type[Any]
    body_model: type[Any]
    get: Callable[[Engine, str], Any]
    upsert: Callable[[Engine, list[Any]], Any]
    delete: Callable[[Engine, str, ApiKey], object] | None
    filters: tuple[str, ...]
    write_errors: dict[int | str, dict[str, Any]] = field(default_factory=dict)
    delete_doc: str = ""


def _etag(record: Any) -> str:
    return f'"{content_hash(record)[:32]}"'


def _conditional(request: Request, response: Response, record: Any) -> Response | None:
    tag = _etag(record)
    response.headers["ETag"] = tag
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return None


def _check_if_match(request: Request, current: Any | None) -> None:
    wanted = request.headers.get("if-match")
    if wanted is None:
        return
    if current is None or wanted not in ("*", _etag(current)):
        raise ApiError(412, "precondition_failed", "l'enregistrement a changé depuis sa lecture (ETag différent)")


def _page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    nxt = offset + len(items)
    return {"items": items, "total": total, "offset": offset, "limit": limit,
            "next_offset": nxt if nxt < total else None}


_NO_NUL = r"^[^\x00]*$"
"""Query texts hold no NUL, as bodies (PostgreSQL cannot compare one: it answered 500)."""


def _add_filter_params(func: Callable[..., Any], filters: tuple[str, ...]) -> None:
    """Declare the equality filters as optional query parameters (in place of ``**wanted``)."""
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for f in filters:
        annotation: Any
        if f == "active":
            annotation = Annotated[bool | None, Query(description="only active (or inactive) resources")]
        elif f == "territory":  # an INSEE code, checked: an unknown one is an error, not an empty page
            annotation = Annotated[TerritoryCode | None, Query(max_length=16, description="only records of this "
                                                               "INSEE territory code (exactly)")]
        else:
            annotation = Annotated[str | None, Query(max_length=128, pattern=_NO_NUL,
                                                     description=f"only records whose {f} is this")]
        params.append(inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]


def _add_reads(kind: _Kind) -> None:
    name, model = kind.name, kind.model

    def list_(engine: EngineDep, _: ReaderKey, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
              limit: Annotated[int, Query(ge=1, le=200)] = 50,
              q: Annotated[str | None, Query(max_length=200, pattern=_NO_NUL, description="title contains")] = None,
              **wanted: Any) -> Any:
        items, total = engine.store.page(name, offset=offset, limit=limit, text=q, **wanted)
        return _page(items, total, offset, limit)

    list_.__doc__ = f"Filters: {', '.join(kind.filters) or 'none'}; `q` searches titles."
    _add_filter_params(list_, kind.filters)  # before the route is made, so that the route reads the filters
    router.get(f"/{name}", tags=[name], response_model=Page[model],  # type: ignore[valid-type]
               summary=f"List {name} (paginated, filtered)", name=f"list_{name}")(list_)

    @router.get(f"/{name}/{{item_id}}", tags=[name], response_model=model, summary=f"One of the {name}",
                name=f"get_{name}", responses={
                    200: {"headers": ETAG_HEADER},
                    304: {"description": "not modified: `If-None-Match` names the current ETag"}})
    def get_(engine: EngineDep, _: ReaderKey, item_id: ItemId, request: Request, response: Response) -> Any:
        record = kind.get(engine, item_id)
        return _conditional(request, response, record) or record


def _add_writes(kind: _Kind) -> None:
    name, model, body_model = kind.name, kind.model, kind.body_model

    @router.post(f"/{name}", tags=[name], status_code=201, response_model=model, name=f"create_{name}",
                 summary=f"Create or replace one of the {name} (upsert by id)",
                 responses={201: {"headers": ETAG_HEADER}, **kind.write_errors})
    def create_(engine: EngineDep, _: WriterKey, body: Annotated[body_model, Body()],  # type: ignore[valid-type]
                response: Response) -> Any:
        kind.upsert(engine, [body])
        response.headers["ETag"] = _etag(body)
        return body

    @router.put(f"/{name}/{{item_id}}", tags=[name], response_model=model, name=f"replace_{name}",
                summary=f"Replace one of the {name} (send If-Match to avoid overwriting a concurrent edit)",
                description="The `id` in the body must be the one in the path (422 otherwise).",
                responses={200: {"headers": ETAG_HEADER}, 412: error(412), **kind.write_errors})
    def put_(engine: EngineDep, _: WriterKey, item_id: ItemId,
             body: Annotated[body_model, Body()], request: Request,  # type: ignore[valid-type]
             response: Response) -> Any:
        given: str = body.id  # type: ignore[attr-defined]  # body_model varies with the kind
        if given != item_id:
            raise ApiError(422, "invalid_input",
                           f"id in the body ({given!r}) differs from the path ({item_id!r})",
                           details=[{"field": "id", "message": "must equal the id in the path"}])
        try:
            current = kind.get(engine, item_id)
        except NotFoundError:
            current = None
        _check_if_match(request, current)
        kind.upsert(engine, [body])
        response.headers["ETag"] = _etag(body)
        return body

    delete = kind.delete
    if delete is not None:
        @router.delete(f"/{name}/{{item_id}}", tags=[name], status_code=204, name=f"delete_{name}",
                       summary=f"Delete one of the {name}", description=kind.delete_doc)
        def delete_(engine: EngineDep, key: WriterKey, item_id: ItemId) -> Response:
            delete(engine, item_id, key)
            return Response(status_code=204)


def _erase_initiative(engine: Engine, item_id: str, key: ApiKey) -> object:
    return erase(engine.settings, engine.store, [item_id], key, engine=engine)


def _delete_resource(engine: Engine, item_id: str, key: ApiKey) -> None:
    engine.delete_resource(item_id)
    record(engine.store, key, "resource.delete", target_kind="resource", target_id=item_id)


_ERASE_DOC = ("Erases the initiative from every copy: its row, its outcomes' reasons (the outcomes stay as "
              "anonymous labels under a pseudonym), the embedding cache, every index snapshot holding it (the "
              "served history drops it at once; a snapshot without it is rebuilt in the background) and, on "
              "SQLite, the freed pages and the WAL.")

_KINDS = (
    _Kind("initiatives", Initiative, InitiativeIn, get=lambda e, i: e.store.get_initiative(i),
          upsert=Engine.upsert_initiatives, delete=_erase_initiative, filters=("territory", "source"),
          delete_doc=_ERASE_DOC),
    _Kind("resources", Resource, ResourceIn, get=lambda e, i: e.store.get_resource(i), upsert=Engine.upsert_resources,
          delete=_delete_resource, filters=("kind", "provider_id", "source", "active"),
          write_errors={404: error(404, "unknown id, or `provider_id` names no stored provider")}),
    _Kind("providers", Provider, ProviderIn, get=lambda e, i: e.store.get_provider(i),
          upsert=lambda e, items: e.store.upsert_providers(items), delete=None, filters=("kind", "source")),
)

for _kind in _KINDS:
    _add_reads(_kind)
    _add_writes(_kind)
