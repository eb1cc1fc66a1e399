"""What a user may use in an instance, and why (PI9, PI10). Pure: the handler gathers the facts."""

from __future__ import annotations

from dataclasses import dataclass

from crm_contracts.seats import ADDONS, INTEGRATIONS


@dataclass(frozen=True)
class CallingPurchase:
    purchase_id: str
    package_id: str
    buyer_user_id: str
    assigned_user_id: str
    instance_id: str
    number_kind: str


@dataclass(frozen=True)
class Item:
    item: str
    kind: str  # addon | calling_package | number | integration
    available: bool
    reason: str
    detail: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def entitlements(user_id: str, instance_id: str, *, member: bool, addons_here: dict[str, str],
                 calling: list[CallingPurchase], integrations: set[str]) -> list[Item]:
    """`addons_here`: add-on → buyer for this instance; `calling`: the packages assigned to the
    user on any instance; `integrations`: those the user connected."""
    if not member:
        why = f"{user_id} is not a member of instance {instance_id}"
        return ([Item(f"addon:{a}", "addon", False, "not_a_member", why) for a in ADDONS] +
                [Item(f"integration:{i}", "integration", False, "not_a_member", why) for i in INTEGRATIONS])
    items = [Item(f"addon:{a}", "addon", True, "bought_here", f"bought for this instance by {addons_here[a]}")
             if a in addons_here else
             Item(f"addon:{a}", "addon", False, "not_bought_here", "add-ons are bought per instance")
             for a in ADDONS]
    for p in calling:
        for_themselves = p.buyer_user_id == p.assigned_user_id
        if for_themselves:
            items.append(Item(f"calling:{p.package_id}", "calling_package", True, "bought_by_agent_for_themselves",
                              "usable on every instance of the agent"))
        elif p.instance_id == instance_id:
            items.append(Item(f"calling:{p.package_id}", "calling_package", True, "bought_here",
                              f"bought for {user_id} on this instance by {p.buyer_user_id}"))
        else:
            items.append(Item(f"calling:{p.package_id}", "calling_package", False, "bought_for_another_instance",
                              f"{p.buyer_user_id} bought it for use on instance {p.instance_id} only"))
        if p.number_kind == "personal":
            items.append(Item(f"number:{p.purchase_id}", "number", True, "personal_number",
                              "a personal number works on every instance of the user"))
        else:
            here = p.instance_id == instance_id
            items.append(Item(f"number:{p.purchase_id}", "number", here,
                              "company_number" if here else "company_number_of_another_instance",
                              f"a company number works only on instance {p.instance_id}"))
    items += [Item(f"integration:{i}", "integration", True, "shared_integration",
                   "connected by the user; shared by all of their instances")
              if i in integrations else
              Item(f"integration:{i}", "integration", False, "not_connected", "the user has not connected it")
              for i in INTEGRATIONS]
    return items
