"""One community's recommender: the model being served, retraining beside it, and suggestions."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cogs.recommend._store import as_course, sync_catalog
from bot.core.clock import Clock
from bot.core.community import Community
from bot.core.versions import CacheName, VersionedCache, Versions
from bot.recommend import Algorithm, ModelInfo, Reason, Suggestion, catalog_digest
from bot.recommend._store import data_version, member_inputs, popularity_counts
from bot.store.db import Database

if TYPE_CHECKING:
    import numpy as np

    from bot.recommend import Dataset, Model, TrainParams

log = logging.getLogger(__name__)

NO_TAG_LIMIT = 1_000
MASK_CACHE = 256
# Members whose courses and recent text are kept in memory: about 25 MB at 50 messages of
# 100 characters each.
INPUTS_CACHED = 5_000
# A cached member's messages are read again after this long: messages do not bump a cache
# version (every chat line would drop every member's entry), so new ones count within it.
TEXT_STALENESS = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What serving a member reads: their kept courses (oldest first, with when each was
    taken: the model may weigh recent ones more), their recent text, and when read."""

    owned: list[str]
    text: str | None
    read_at: datetime
    taken: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Suggestions:
    """What a member is offered, and whether it was about them (not just what is popular)."""

    items: list[Suggestion]
    personalised: bool


def model_path(database_url: str, model_dir: str, slug: str) -> Path:
    """Return where a community's model lives: ``model_dir``, else beside the SQLite file."""
    name = f"recommend-{slug}.npz"
    if model_dir:
        return Path(model_dir) / name
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        database = Path(database_url[len(prefix) :].partition("?")[0])
        return database.with_name(f"{database.stem}.{name}")
    return Path(name)


def _load_data(url: str, community_id: int, now: datetime, community: Community) -> Dataset:
    """Read the training data through a database handle of this thread's own event loop."""
    from bot.recommend._load import load_dataset  # noqa: PLC0415 (numpy: only when training)

    config = community.config.recommend

    async def run() -> Dataset:
        db = Database(url)
        try:
            return await load_dataset(
                db,
                community_id,
                now=now,
                text_window=config.text_window,
                messages_per_member=config.text_messages,
            )
        finally:
            await db.close()

    return asyncio.run(run())


class Recommender:
    """Serves a community's model; a retrain runs in a worker thread and swaps it in at the end."""

    def __init__(
        self,
        db: Database,
        community: Community,
        clock: Clock,
        path: Path,
        versions: Versions | None = None,
    ) -> None:
        self.db = db
        self.community = community
        self.clock = clock
        self.path = path
        self.model: Model | None = None
        self.fallback: Model | None = None
        self.catalog = [as_course(c) for c in community.config.courses]
        self.digest = catalog_digest(self.catalog)  # hashing 2,000 courses takes a millisecond
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._train_lock = asyncio.Lock()
        # (model, tiers) -> which courses those tiers may see: the same few sets recur.
        self._masks: dict[tuple[int, frozenset[str]], np.ndarray] = {}
        # A member's inputs while no purchase, privacy switch or catalog change says otherwise
        # (the ``recommend`` cache version); None: read them on every call.
        self._inputs: VersionedCache[int, Inputs] | None = None
        if versions is not None:
            self._inputs = VersionedCache(versions, (CacheName.RECOMMEND,), size=INPUTS_CACHED)

    @property
    def training(self) -> bool:
        """Tell whether a retrain is running."""
        return self._train_lock.locked()

    async def open(self) -> None:
        """Sync the catalog into the store and load the model file (once)."""
        async with self._open_lock:
            if self._opened:
                return
            from bot.recommend import ModelFileError, load  # noqa: PLC0415 (numpy: first use)

            await sync_catalog(
                self.db, self.community.id, self.community.config.courses, self.clock.now()
            )
            if not self.path.exists():  # never trained yet: nothing is wrong
                log.info("recommend %s: no model yet, serving popularity", self.community.slug)
                self.model = None
            else:
                try:
                    self.model = await asyncio.to_thread(load, self.path)
                except ModelFileError as exc:
                    log.warning(
                        "recommend %s: no usable model, serving popularity (%s)",
                        self.community.slug,
                        exc,
                    )
                    self.model = None
            if self.model is None or self.model.info.catalog != self.digest:
                await self.refresh_fallback()  # else never served: the catalog is fixed
            self._opened = True

    async def refresh_fallback(self) -> None:
        """Rebuild the popularity model served while there is no trained one."""
        import numpy as np  # noqa: PLC0415 (loaded with the first model, not at start)

        from bot.recommend import Model  # noqa: PLC0415

        async with self.db.read() as conn:
            counts = await popularity_counts(conn, self.community.id)
        self.fallback = Model(
            self.catalog,
            info=ModelInfo(
                trained_at=self.clock.now(),
                data_version="",
                catalog=self.digest,
                algorithm=Algorithm.POPULARITY,
            ),
            weights=None,
            popularity=np.array([counts.get(c.id, 0) for c in self.catalog], dtype=np.float32),
            text=None,
        )

    def current(self) -> Model:
        """Return the model to serve: the trained one if it fits the catalog, else popularity."""
        model = self.model
        if model is not None and model.info.catalog == self.digest:
            return model
        assert self.fallback is not None
        return self.fallback

    async def due(self) -> bool:
        """Tell whether a retrain is due: no model, another catalog, or old and data changed."""
        await self.open()
        model = self.model
        if model is None or model.info.catalog != self.digest:
            return True
        if self.clock.now() - model.info.trained_at < self.community.config.recommend.retrain_every:
            return False
        async with self.db.read() as conn:
            version = await data_version(conn, self.community.id)
        return version != model.info.data_version

    async def retrain(self, params: TrainParams | None = None) -> Model:
        """Train on the store's data in a worker thread, save it, then serve it."""
        from bot.recommend import TrainParams, save, train  # noqa: PLC0415 (scikit-learn)

        await self.open()
        config = self.community.config.recommend
        params = params or TrainParams(
            train_memory_mb=config.train_memory_mb,
            messages_per_member=max(1, config.text_messages),
        )
        async with self._train_lock:
            now = self.clock.now()
            url = self.db.url.render_as_string(hide_password=False)
            data = await asyncio.to_thread(_load_data, url, self.community.id, now, self.community)
            model = await asyncio.to_thread(train, data, now, params)
            await asyncio.to_thread(save, model, self.path)
            self.model = model
            self._masks.clear()
            # The new model fits the catalog, so the fallback is not served again: not rebuilt
            # (a second pass over every purchase: 3.6 s of a 26.5 s retrain at 2,000,000).
        log.info(
            "recommend %s: trained %s on %d purchases of %d members",
            self.community.slug,
            model.info.algorithm,
            model.info.purchases,
            model.info.members,
        )
        return model

    async def suggest(
        self,
        member_id: int,
        *,
        tiers: frozenset[str],
        language: str | None,
        k: int = 5,
    ) -> Suggestions:
        """Return a member's suggestions: not owned, allowed by their tiers, diverse."""
        await self.open()
        inputs = await self.inputs(member_id)
        owned, text = inputs.owned, inputs.text
        config = self.community.config.recommend
        model = self.current()
        key = (id(model), tiers)
        allowed = self._masks.get(key)
        if allowed is None:
            ids = [c.id for c in self.catalog if not c.tiers or tiers.intersection(c.tiers)]
            allowed = model.mask(ids)
            if len(self._masks) > MASK_CACHE:
                self._masks.clear()
            self._masks[key] = allowed
        items = model.recommend(
            owned,
            text,
            taken=inputs.taken,
            allowed=allowed,
            language=language,
            k=k,
            max_per_tag=config.max_per_tag or NO_TAG_LIMIT,
        )
        personalised = any(s.reason is not Reason.POPULAR for s in items)
        return Suggestions(items, personalised)

    async def inputs(self, member_id: int) -> Inputs:
        """Return a member's kept courses and recent text, from memory when nothing changed."""
        if self._inputs is None:
            return await self._read_inputs(member_id)
        found = await self._inputs.get(member_id, lambda: self._read_inputs(member_id))
        if found.text is not None and self.clock.now() - found.read_at >= TEXT_STALENESS:
            self._inputs.forget(member_id)
            found = await self._inputs.get(member_id, lambda: self._read_inputs(member_id))
        return found

    async def _read_inputs(self, member_id: int) -> Inputs:
        config = self.community.config.recommend
        now = self.clock.now()
        since = now - config.text_window if config.text_messages else None
        async with self.db.read() as conn:
            owned, taken, text = await member_inputs(
                conn, self.community.id, member_id, since=since, limit=config.text_messages
            )
        return Inputs(owned, text, now, taken)
