"""Facts of HubSpot's API that more than one layer needs (see shared/hubspot-api.md)."""

#: Where HubSpot's API lives.
API_BASE_URL = "https://api.hubapi.com"
#: At most this many inputs in one batch request; more is a 400 for the whole request.
MAX_BATCH_INPUTS = 100
