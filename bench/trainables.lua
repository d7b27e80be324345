-- Trainables for the benchmarks (a worker runs this file to find them).
local tune = require("tune")

-- One report, then done: start -> one result -> stop.
tune.register_trainable("bench_once", function(config)
  tune.report{x = 1}
end)

-- Reports as fast as it can.
tune.register_trainable("bench_stream", function(config)
  local report = tune.report
  for i = 1, config.n do report{i = i} end
end)

-- One result at once (the Slurm bench's trivial trial).
tune.register_trainable("bench_trivial", function(config)
  tune.report{x = 1}
end)

-- One second of work, then one result.
tune.register_trainable("bench_one_second", function(config)
  tune.sleep(1)
  tune.report{x = 1}
end)

-- A fixed amount of time (config.t seconds, default 10 ms), then one result.
tune.register_trainable("bench_sleep", function(config)
  tune.sleep(config.t or 0.01)
  tune.report{x = 1}
end)
