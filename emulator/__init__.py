"""TikTok Events API 2.0 emulator: the other side of the wire, for tests, demos and benchmarks.

It serves ``POST /open_api/v1.3/event/track/`` on a real HTTP server, validates requests as
strictly as TikTok documents, records and deduplicates accepted events, and injects faults
(5xx, throttling, latency and latency spikes, hangs, dropped connections, answers cut off
mid-way, canned answers of a proxy or gateway, a revoked token, a QPS limit)
deterministically under a seed. It shares nothing with ``consumer/`` but the API contract.

    from tiktok_capi.emulator import Emulator, EmulatorConfig, FaultConfig

    with Emulator(EmulatorConfig(token="t", pixel_code="P")) as emu:
        ...  # POST to emu.track_url with header Access-Token: t
        emu.set_faults(FaultConfig(throttle_rate=0.5))
        emu.stats(), emu.events(), emu.reset()
"""

from tiktok_capi.emulator.config import EmulatorConfig, FaultConfig, InvalidFaults
from tiktok_capi.emulator.contract import TRACK_PATH
from tiktok_capi.emulator.service import Emulator

__all__ = ["TRACK_PATH", "Emulator", "EmulatorConfig", "FaultConfig", "InvalidFaults"]
