"""The streaming side of tiktok-capi: Kafka in, TikTok Events API out (everything with I/O)."""
