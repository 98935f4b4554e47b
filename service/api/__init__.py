"""The HTTP API of Maillage (FastAPI), versioned under ``/v1``.

``create_app()`` (:mod:`service.api.app`) builds the app; the engine (catalogue, model, index) is
started once per worker in the lifespan. Dependencies are ``Annotated`` aliases in
:mod:`service.api.deps` (the key and its role, the engine), errors are answered by
:mod:`service.api.errors`, and each resource has its router in :mod:`service.api.routes`. Routes
parse, call the engine, and answer; matching goes through ``Engine.recommend``.
"""

from service.api.app import create_app

__all__ = ["create_app"]
