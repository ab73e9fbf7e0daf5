"""What test modules share, by topic. Fixtures live in the ``conftest.py`` files; the
classes, functions and constants they and the tests use live here.

- `tests.support.servers`: TCP servers on 127.0.0.1 that misbehave as told.
- `tests.support.faults`: a provider stand-in that fails on cue and remembers what it took.
- `tests.support.providers`: The SMS Works and SMS Scheduler as the tests meet them: base
  URLs, tokens, recorded answers, the calls aioresponses recorded, The SMS Works' spec.
- `tests.support.mocking`: aioresponses on every aiohttp release we support.
- `tests.support.sandbox`: the sandbox at test speed, over raw HTTP, or on a thread.
- `tests.support.leaks`: where a secret shows, in everything reachable from an error.
- `tests.support.webhooks`: receivers with callbacks that collect, and posting to them.
- `tests.support.asgi`: ASGI servers on 127.0.0.1 (uvicorn, mounted or alone), and driving one.
- `tests.support.bulk`: cancelling a bulk run part-way.
- `tests.support.tracking`: polling options, typed.
- `tests.support.outcomes`: the receipt or message of an outcome known to have one.
- `tests.support.journal_child`: a journalled bulk run in a process of its own.
"""
