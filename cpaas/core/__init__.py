"""Cross-cutting plumbing only: errors, ids, idempotency, rate limits, auth, pagination, logging."""
