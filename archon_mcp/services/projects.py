"""Projects by name: `billing-api` is the same project id in every conversation and from every client.

Tools and REST take either `project` (a name) or `project_id` (a UUID, the seed's API);
`ProjectService.resolve(project=..., project_id=...)` turns whichever was given into the id that
sessions store, creating the named project on first use."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archon_mcp.db import Database
from archon_mcp.errors import InvalidInputError
from archon_mcp.repositories import projects as projects_repo
from archon_mcp.schemas import _checks as v

MAX_NAME_CHARS = 200
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ProjectRef:
    id: uuid.UUID
    name: str


def normalize_name(value: Any, field: str = "project") -> str:
    """The name as stored: Unicode NFC, surrounding space stripped, inner runs of space made one.
    Case is kept (uniqueness ignores it)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} must be a non-empty project name such as 'billing-api'")
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", value).strip())
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"{field} is {len(name)} characters long; use at most {MAX_NAME_CHARS}")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise InvalidInputError(f"{field} {name[:60]!r} has control characters; use letters, digits, - _ . /")
    return name


class ProjectService:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get_or_create(self, name: Any) -> ProjectRef:
        """The project called `name` (case-insensitive), created on first use. Safe under concurrency."""
        clean = normalize_name(name)
        async with self._db.connect() as conn:
            pid, stored = await projects_repo.get_or_create(conn, clean)
        return ProjectRef(pid, stored)

    async def find(self, name: Any) -> ProjectRef | None:
        """The project called `name`, or None; never creates one (for filters: an unknown name matches nothing)."""
        clean = normalize_name(name)
        async with self._db.connect() as conn:
            found = await projects_repo.find(conn, clean)
        return None if found is None else ProjectRef(*found)

    async def resolve(self, project: Any = None, project_id: Any = None, *, create: bool = True) -> uuid.UUID | None:
        """The project id a call means: from `project` (a name; created on first use unless `create=False`)
        or `project_id` (a UUID, kept as is), None when neither is given. Both given: they must agree.

        With `create=False` (list/search filters) an unknown name raises InvalidInputError naming it."""
        named = None if project is None or (isinstance(project, str) and not project.strip()) else project
        pid = v.parse_optional_uuid(project_id, "project_id")
        if named is None:
            return pid
        ref = await (self.get_or_create(named) if create else self.find(named))
        if ref is None:
            raise InvalidInputError(
                f"no project is called {normalize_name(named)[:60]!r}; a project exists once a session "
                "was created with it"
            )
        if pid is not None and pid != ref.id:
            raise InvalidInputError(
                f"project {ref.name!r} is {ref.id}, not project_id {pid}; pass one of project or project_id"
            )
        return ref.id

    async def names(self, ids: Iterable[uuid.UUID | str | None]) -> dict[str, str]:
        """{project id (str): name} for the ids that have a name; unnamed (UUID-only) ids are left out."""
        wanted = []
        for value in ids:
            if value is None:
                continue
            try:
                wanted.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
            except ValueError:
                continue
        async with self._db.connect() as conn:
            found = await projects_repo.names(conn, wanted)
        return {str(k): name for k, name in found.items()}
