"""IM: users and tokens, conversations, messages with per-conversation sequence numbers."""
