"""`make bench`: every benchmark in turn, each in its own process with its
defaults (PostgreSQL from DATABASE_URL; the sendout bench also needs Redis).
`python -m bench name ...` runs only the named ones."""

import subprocess
import sys

BENCHES = ["rules", "targetgroups", "preview", "sms_backend", "sendout", "export"]

wanted = sys.argv[1:] or BENCHES
unknown = sorted(set(wanted) - set(BENCHES))
if unknown:
    sys.exit(f"unknown bench: {', '.join(unknown)} (choose from {', '.join(BENCHES)})")
failed = []
for name in wanted:
    print(f"== bench.{name}_bench", flush=True)
    if subprocess.call([sys.executable, "-m", f"bench.{name}_bench"]) != 0:
        failed.append(name)
sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
