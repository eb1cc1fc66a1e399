"""`make bench` and `crm-stack bench`: the project beside plain loops, its figures and profiles."""
