"""Shared runtime of the crm-platform services (see STYLE.md, 'The shape of one service')."""
