"""One function per message notifications acts on, split by aggregate: who is where
(`directory`), e-mails and their templates (`mail`), an instance's life (`instances`), and the
notification center (`center`); what they build on is in `common`."""

from __future__ import annotations

from crm_runtime.handlers import Handlers

from . import center, directory, instances, mail

handlers = Handlers.combine(directory.handlers, mail.handlers, instances.handlers, center.handlers)
