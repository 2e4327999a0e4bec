"""The event feed: tailing a store (`tail`), following it with retries (`feed`), the WebSocket
server (`server`, for `serve`) and client (`client`, for `watch --server`)."""
