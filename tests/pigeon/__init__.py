"""Pigeon Post: a small fictional provider added from outside ``smsgate/``, in two modules
(`tests.pigeon.adapter` and `tests.pigeon.emulator`), as docs/adding-a-provider.md tells."""
