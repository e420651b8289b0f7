"""Voice: calls and legs, call-control documents, callback bridging, CDRs."""
