"""`crm`: the operator's command line for crm-platform."""
