"""routing: instance rosters, rule sets, leads, ponds, rotation state, claims."""
