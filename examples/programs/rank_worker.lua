-- One data-parallel worker of examples/placement_groups.lua, run by
-- tunelua in a bundle: `tunelua rank_worker.lua RANK LR`. Prints its
-- share of the work as a JSON line.
local rank, lr = tonumber(arg[1]), tonumber(arg[2])
-- A real job would train on its part of the data here.
print(string.format('{"rank": %d, "grad": %.6f, "threads": %s}', rank, lr * (rank + 1), os.getenv("OMP_NUM_THREADS")))
