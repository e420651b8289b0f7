"""RTC rooms: audio rooms on a Janus media server, tokens, signalling, events and metering."""
