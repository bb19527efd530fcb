"""Found by crmsync's autodiscovery (``CrmSyncConfig.ready``); the tests register their own
mappings, so this only records that it was imported."""

DISCOVERED = True
