"""notifications: e-mail templates and delivery, push notifications, sessions, unread counters."""
