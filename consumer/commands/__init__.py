"""Sub-commands of the `tiktok-capi` CLI, one module each (see `tiktok_capi.consumer.cli`)."""
