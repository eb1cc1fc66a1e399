"""seats' two topics and the words its messages share: intervals, automatic upgrades, what can be
bought, currencies."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from ..common import MAX_SEATS
from ..registry import Direction, topic

COMMANDS = topic(
    "seats.commands.v1", Direction.COMMANDS, "seats",
    "Commands to the seats service: subscriptions, add-ons, calling packages.",
)
EVENTS = topic(
    "seats.events.v1", Direction.EVENTS, "seats",
    "Facts published by the seats service: seat ledger changes, upgrades, charges.",
)

Currency = Field(pattern=r"^[A-Z]{3}$")


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class AutoUpgradeMode(StrEnum):
    ON = "on"        # an accepted opt-in with no free seat buys one (AO9)
    OFF = "off"      # it waits as seat_unavailable instead (AO10)
    LIMIT = "limit"  # seats are bought automatically up to `max_seats` in total


class AutoUpgrade(BaseModel):
    mode: AutoUpgradeMode = AutoUpgradeMode.ON
    max_seats: int | None = Field(default=None, ge=0, le=MAX_SEATS)

    @model_validator(mode="after")
    def _limit_has_a_number(self) -> AutoUpgrade:
        if self.mode is AutoUpgradeMode.LIMIT and self.max_seats is None:
            raise ValueError("auto_upgrade mode 'limit' needs max_seats")
        return self


ADDONS = ("ai_assistant", "home_report", "cma", "social_studio_pro", "revaluate", "direct_mail",
          "agent_website", "vanity_domain", "lead_generation")
INTEGRATIONS = ("gmail", "office_365", "imap", "google_calendar", "outlook_calendar", "calendly",
                "slybroadcast", "google_contacts", "bombbomb", "dotloop", "skyslope", "brokermint", "cloud_cma")
CALLING_PACKAGES = ("calling_basic", "calling_pro", "texting", "calling_texting_unlimited")
PACKAGES = ("crm_only", "crm_idx_solo", "crm_idx_team")


class NumberKind(StrEnum):
    PERSONAL = "personal"  # usable on every instance of the user
    COMPANY = "company"    # usable only on the instance it was bought on
