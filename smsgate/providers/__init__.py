"""Provider adapters, one module each, on the shared base in `smsgate.providers.base`."""
