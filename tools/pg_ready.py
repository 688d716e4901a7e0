"""Exit 0 when the PostgreSQL server of the given URL accepts a connection."""

import sys

import psycopg

url = sys.argv[1].replace("postgres://", "postgresql://", 1)
try:
    with psycopg.connect(url, connect_timeout=3):
        pass
except psycopg.Error:
    sys.exit(1)
