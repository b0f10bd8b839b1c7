"""The catalog on PostgreSQL/pgstac: connect and check (``db``), load in one transaction (``load``),
read and search for the server (``read``)."""
