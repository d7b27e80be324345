--- The environment variables tune.run reads itself
--- (docs/reference/run.md#environment-variables), all checked when it
--- starts: a wrong one is refused at the user's line, naming it and its
--- value, before anything is written (even one read only at an interrupt,
--- where a wrong one would lose the save).
local util = require("tune.util")
local refusal = require("tune.experiment.refusal")

local M = {}

local function refuse(env, what)
  refusal.refuse(("tune.run: environment variable %s=%q %s"):format(env, os.getenv(env), what))
end

--- The variable as a number (nil when unset or empty), else refused.
local function number(env)
  local ok, v = pcall(util.env_number, env)
  if not ok then refusal.refuse("tune.run: " .. tostring(v)) end
  return v
end

--- Ray's int() of it: an integer, or nil when unset or empty.
local function integer(env)
  local v = number(env)
  if v ~= nil and math.type(v) ~= "integer" then refuse(env, "is not an integer") end
  return v
end

--- Seconds, finite and 0 or more (more than 0 where `positive`).
local function seconds(env, positive)
  local v = number(env)
  if v ~= nil and not ((positive and v > 0 or not positive and v >= 0) and v < math.huge) then
    refuse(env, ("must be a finite number of seconds, %s"):format(positive and "more than 0" or "0 or more"))
  end
  return v
end

--- Ray's TUNE_MAX_LEN_IDENTIFIER: the most bytes of a trial directory's
--- name before its date (checked when tune.run starts), else 130.
function M.max_len_identifier()
  local n = math.tointeger(tonumber(os.getenv("TUNE_MAX_LEN_IDENTIFIER") or ""))
  return n and n >= 0 and n or 130
end

--- Checks every variable tune.run reads and sets the settings they give
--- on `o`: `used` says which are read for this run (the dated subdir
--- without a name, the compact report with the default reporter).
function M.read(opts, o, used)
  -- Ray's "auto" (the default; the period does not adapt here), else seconds.
  if opts.global_checkpoint_s == nil and os.getenv("TUNE_GLOBAL_CHECKPOINT_S") ~= "auto" then
    o.checkpoint_period = seconds("TUNE_GLOBAL_CHECKPOINT_S")
  end
  o.checkpoint_period = opts.global_checkpoint_s or o.checkpoint_period or 10
  o.signal_checkpoint_s = seconds("TUNE_SIGNAL_CHECKPOINT_TIMEOUT_S")
  o.interrupt_cleanup_s = seconds("TUNE_INTERRUPT_CLEANUP_S")
  -- Read by the engine when a stopping worker is slow (0: its default).
  seconds("TUNE_STOP_WARN_S", true)
  for env, read in pairs({TUNE_DISABLE_DATED_SUBDIR = used.dated_subdir, TUNE_COMPACT_REPORT = used.compact_report}) do
    if read then integer(env) end
  end
  -- Ray: `not int(...)` installs the handler; `int(...) != 1` checks metrics.
  o.disable_sigint = (integer("TUNE_DISABLE_SIGINT_HANDLER") or 0) ~= 0
  integer("TUNE_DISABLE_STRICT_METRIC_CHECKING")
  local len = integer("TUNE_MAX_LEN_IDENTIFIER")
  if len ~= nil and len < 0 then refuse("TUNE_MAX_LEN_IDENTIFIER", "must be a whole number of bytes, 0 or more") end
  -- Placement groups staged at once (assemble's max_pending): 0 (or Ray's
  -- default "auto") is the automatic count, as the executor's option.
  local pending = os.getenv("TUNE_MAX_PENDING_TRIALS_PG") == "auto" and 0 or number("TUNE_MAX_PENDING_TRIALS_PG")
  if pending ~= nil and not (math.tointeger(pending) and pending >= 0 and pending <= 2 ^ 40) then
    refuse("TUNE_MAX_PENDING_TRIALS_PG", "must be a whole number of placement groups, 0 (automatic) or more")
  end
  o.max_pending_trials = pending ~= 0 and math.tointeger(pending) or nil
end

return M
