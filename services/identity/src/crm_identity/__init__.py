"""identity: accounts, hierarchy groups, members and their statuses, invitations, instances."""
