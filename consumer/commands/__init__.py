"""Sub-commands of the `tiktok-capi` CLI, one module each (see `consumer.cli`)."""
