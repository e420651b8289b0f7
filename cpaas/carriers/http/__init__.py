"""A generic HTTP upstream: JSON POST per message with templated fields, receipts by callback."""
