"""SMS: messages and their lifecycle, segmenting, routing, inbound and opt-outs."""
