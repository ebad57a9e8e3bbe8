"""Issue 20, item 4: variants of the floor (benchmarks/floor.py) tried to make it cheaper, the
script that measures them beside wrk and the floor, and their mypyc build; the results are in
benchmarks/results/selfbench/floor-trials.md."""
