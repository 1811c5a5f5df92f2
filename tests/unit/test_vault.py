"""Development key files: several processes starting at once agree on one set of keys."""
from __future__ import annotations

import multiprocessing

from gateway.adapters.vault import DevKeyFile


def _load(path, queue):
    vault = DevKeyFile(path).load_or_create()
    queue.put((vault.active, vault.keys[vault.active], vault.index_key))


def test_concurrent_first_starts_share_one_key_file(tmp_path):
    for attempt in range(5):
        path = tmp_path / f"keys-{attempt}.json"
        queue = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=_load, args=(path, queue)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        results = {queue.get(timeout=5) for _ in workers}
        assert len(results) == 1
        assert (path.stat().st_mode & 0o777) == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
