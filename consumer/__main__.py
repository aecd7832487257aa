"""`python -m consumer` is the same as the `tiktok-capi` command."""

import sys

from tiktok_capi.consumer.cli import main

sys.exit(main())
