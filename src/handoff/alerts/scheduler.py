"""The in-process nightly scheduler `handoff up` starts when `settings.scheduler` is on (cron is the alternative)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

from handoff.clock import Clock, utcnow

log = logging.getLogger(__name__)


class NightlyScheduler:
    """A daemon thread that runs the nightly job once a day, at or after `alerts.nightly_hour_utc`.

    It catches up on start (a service that was down at 02:00 runs when it comes back), and because the job is
    idempotent per date, a restart or a second replica never sends a digest twice. `job(run_date)` is the run
    (`wiring.nightly_job` in the service); `hour_utc` is `alerts.nightly_hour_utc`.
    """

    def __init__(
        self,
        job: Callable[[date], object],
        *,
        hour_utc: int,
        check_every_s: float = 60.0,
        now: Clock = utcnow,
    ) -> None:
        self.job = job
        self.hour_utc = hour_utc
        self.check_every_s = check_every_s
        self.now = now
        self.last_run_date: date | None = None
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> date | None:
        """Today's date once the hour has come and today has not run in this process yet."""
        current = self.now()
        if current.hour < self.hour_utc:
            return None
        today = current.date()
        return None if self.last_run_date == today else today

    def tick(self) -> None:
        run_date = self.due()
        if run_date is None:
            return
        try:
            run = self.job(run_date)
            log.info("nightly run %s for %s: %s", getattr(run, "id", "-"), run_date, getattr(run, "status", "done"))
        except Exception:  # keep the service up; the run record (or this log line) says what went wrong
            log.exception("nightly run for %s failed", run_date)
        self.last_run_date = run_date
        self.runs += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.check_every_s)

    def start(self) -> NightlyScheduler:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="handoff-nightly", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
