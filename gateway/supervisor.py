"""Start and stop a whole Helpline: Redis, demo data, web workers.

With no Redis URL the supervisor starts the embedded Redis in the data
directory and points every worker at its socket. One worker runs in this
process; several run as child processes that share the HTTP port
(SO_REUSEPORT), each pinned to one core, and are stopped together.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from gateway.accounts import Accounts
from gateway.config import Settings
from gateway.faq import FaqStore
from gateway.logs import setup_logging
from gateway.media_pool import MediaPool
from gateway.menus import HoursStore, MenuStore
from gateway.prompts import check_voice
from gateway.store import Store, open_store, start_embedded

logger = logging.getLogger(__name__)

DEMO_FILE = "demo-accounts.txt"


def run(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_format, digits=settings.log_digits)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    check_voice(settings.tts_voice)
    embedded = None if settings.redis_url else start_embedded(settings.data_dir)
    url = settings.redis_url or (embedded.url if embedded else "")
    pool = MediaPool(settings, url)
    try:
        accounts = asyncio.run(_prepare(settings, url))
        settings = pool.start()
        _print_banner(settings, [pool.describe(), *accounts], embedded is not None)
        if settings.workers == 1:
            _worker(settings, url, 0, reuse_port=False)
        else:
            _run_workers(settings, url)
    finally:
        pool.stop()
        if embedded is not None:
            embedded.stop()


async def _prepare(settings: Settings, url: str) -> list[str]:
    """Seed the demo accounts; return lines that tell how to sign in."""
    if not settings.demo:
        return []
    store = await open_store(settings, url=url)
    try:
        created = await Accounts(store).ensure_demo_users()
        content = await seed_demo_content(store)
    finally:
        await store.close()

    path = settings.data_dir / DEMO_FILE
    if created:
        lines = [
            f"{role:8} user {name!r} password {pw!r}" for name, role, pw in created
        ]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
    if path.exists():
        return [*path.read_text().splitlines(), content]
    return [
        "demo accounts exist; set a password with: helpline add-user NAME --role agent",
        content,
    ]


async def seed_demo_content(store: Store) -> str:
    """The demo FAQ, menu and opening hours, each only where none is set
    (an operator's edits survive a restart); returns a line for the banner
    that says what callers get now."""
    faq = FaqStore(store)
    seeded = await faq.seed_demo()
    menus = MenuStore(store)
    seeded = await menus.seed_demo(await faq.ids()) or seeded
    hours = HoursStore(store)
    seeded = await hours.seed_demo() or seeded
    entry = await menus.entry()
    calendar = await hours.calendar()
    now = calendar.state_at(datetime.now(UTC))
    menu = f"menu {entry.id} v{entry.version}" if entry else "no menu published"
    return (
        f"{'demo content seeded; ' if seeded else ''}callers get {menu}, "
        f"{len(await faq.ids())} FAQ answers; the line is {now} now "
        f"({calendar.time_zone}; change the hours in the console)"
    )


def _print_banner(settings: Settings, accounts: list[str], embedded: bool) -> None:
    base = settings.public_url.rstrip("/")
    redis = (
        "embedded, in " + str(settings.data_dir / "redis") if embedded else "external"
    )
    lines = [
        f"Helpline is running (Redis {redis}; {settings.workers} worker(s)).",
        f"  demo site with the Call us button: {base}/demo",
        f"  agent softphone:                   {base}/agent",
        f"  operator console:                  {base}/console",
        f"  health:                            {base}/healthz",
        *(f"  {line}" for line in accounts),
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)


def _worker(settings: Settings, url: str, index: int, *, reuse_port: bool) -> None:
    from gateway.app import pin_to_core, run_node

    if settings.workers > 1:
        pin_to_core(index)
        setup_logging(
            settings.log_level, settings.log_format, digits=settings.log_digits
        )
    asyncio.run(run_node(settings, url, reuse_port))


def _run_workers(settings: Settings, url: str) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker,
            args=(settings, url, index),
            kwargs={"reuse_port": True},
            name=f"helpline-web-{index}",
        )
        for index in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for worker in workers:
        worker.join()
    failed = [w.name for w in workers if w.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        print(f"helpline: workers failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


def demo_accounts_file(data_dir: Path) -> Path:
    return data_dir / DEMO_FILE
