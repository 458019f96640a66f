"""The request engine: plan a traversal, then run access, erasure or correction."""
