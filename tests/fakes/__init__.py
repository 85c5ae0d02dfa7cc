"""Fake platform servers (Telegram, Zalo OA, Zalo Bot) on 127.0.0.1, speaking each platform's HTTP API."""
