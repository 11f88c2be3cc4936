"""The serving model: the MLflow champion, swapped atomically on reload."""

from __future__ import annotations

import threading
from collections.abc import Callable

from models.registry import CHAMPION, champion_version, load_scorer
from models.scorer import Scorer
from service.settings import ServiceSettings


class ModelHolder:
    """Hold the current scorer; a reload swaps the reference, in-flight requests keep theirs."""

    def __init__(
        self,
        settings: ServiceSettings,
        scorer: Scorer | None = None,
        warm: Callable[[Scorer], None] | None = None,
    ) -> None:
        self._settings = settings
        self._scorer = scorer
        self._warm = warm
        """Run on each newly loaded champion before it is swapped in (`service.scoring.warm`)."""
        self._reload_lock = threading.Lock()

    @property
    def current(self) -> Scorer | None:
        """Return the scorer new requests use (None before any champion exists)."""
        return self._scorer

    def reload(self) -> Scorer:
        """Load the champion again, warm it, then swap it in (a failed load keeps the old model)."""
        with self._reload_lock:
            scorer = load_scorer(self._settings, CHAMPION)
            if self._warm is not None:
                self._warm(scorer)
            self._scorer = scorer
            return scorer

    def reload_if_moved(self) -> bool:
        """Reload when the champion alias points at another version; return whether it did."""
        version = champion_version(self._settings)
        current = self._scorer.version if self._scorer else None
        if version is not None and version != current:
            self.reload()
            return True
        return False
