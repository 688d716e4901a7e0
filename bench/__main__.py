"""`make bench`: every benchmark in turn."""

from bench import targetgroups_bench

targetgroups_bench.main()
