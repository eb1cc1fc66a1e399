"""One function per identity command or seats event (load, decide, save, emit), split by
aggregate: accounts and groups, members, invitations, private instances, API keys, and the seats
service's answers; `common` holds what they build on."""

from __future__ import annotations

from crm_runtime.handlers import Handlers

from . import accounts, api_keys, instance_life, instances, invitations, members, seat_answers

handlers = Handlers.combine(accounts.handlers, members.handlers, invitations.handlers, instances.handlers,
                            instance_life.handlers, api_keys.handlers, seat_answers.handlers)
