--- tune.Trial: one configuration of a trainable and everything known about
--- its run (Ray's Trial). Plug-ins see trials as these objects: trial_id,
--- config, status, last_result, experiment_tag, logdir, checkpoint, ...
local class = require("tune.class")
local ckpt = require("tune.executor.checkpoint")
local core = require("tune.core")
local placement = require("tune.executor.placement")
local registry = require("tune.worker.registry")
local util = require("tune.util")

local M = {}

local Trial = class.class("Trial")

Trial.PENDING = "PENDING"
Trial.RUNNING = "RUNNING"
Trial.PAUSED = "PAUSED"
Trial.TERMINATED = "TERMINATED"
Trial.ERROR = "ERROR"

local env = require("tune.experiment.env")
local MAX_DIRNAME = 200

--- The default results directory: TUNE_RESULT_DIR, else ~/tune_results.
function M.default_local_dir()
  local env = os.getenv("TUNE_RESULT_DIR")
  if env and env ~= "" then return util.expanduser(env) end
  return util.expanduser("~/tune_results")
end

local id_counter = 0

--- A fresh trial id: 8 hex characters (Ray's Trial.generate_id).
function M.generate_id()
  id_counter = id_counter + 1
  return util.random_hex(8)
end

local OPTS = {
  config = true, trial_id = true, local_dir = true, evaluated_params = true, experiment_tag = true,
  resources = true, placement_group_factory = true, stopping_criterion = true, checkpoint_freq = true,
  checkpoint_at_end = true, keep_checkpoints_num = true, checkpoint_score_attr = true, restore_path = true,
  trial_name_creator = true, trial_dirname_creator = true, log_to_file = true, max_failures = true,
  experiment_dir_name = true, loader = true, logdir = true,
}

-- A trial through tune.run holds about 25 fields at once (set by __init,
-- the runner, the executor): room for 32 (a hash part's next power of
-- two), made at once (tune.class). Room for 64 cost 768 bytes more per
-- trial, held for the run; the rare trial with more fields grows once.
Trial.__size = 32

--- Trial(trainable_name_or_trainable, opts)
function Trial:__init(trainable, opts)
  opts = opts or {}
  if type(trainable) == "table" and getmetatable(trainable) == nil and trainable.trainable ~= nil then
    opts, trainable = trainable, trainable.trainable
  end
  for k in pairs(opts) do
    if not OPTS[k] and k ~= "trainable" then
      local near = util.closest(k, util.sorted_keys(OPTS))
      error(string.format("Trial: unknown option %q%s", tostring(k), near and (" (did you mean " .. near .. "?)") or ""), 3)
    end
  end
  local entry
  if type(trainable) == "string" then
    self.trainable_name = trainable
    entry = registry.get(trainable)
  elseif registry.kind_of(trainable) then
    entry = registry.find(trainable)
    if not entry then
      error("Trial: register the trainable with tune.register_trainable() first, or use tune.run()", 3)
    end
    self.trainable_name = entry.name
  else
    error("Trial: expected a trainable name or a registered trainable, got " .. type(trainable), 3)
  end
  self.config = opts.config or {}
  self.trial_id = opts.trial_id or M.generate_id()
  self.local_dir = opts.local_dir or M.default_local_dir()
  self.experiment_dir_name = opts.experiment_dir_name
  self.evaluated_params = opts.evaluated_params or {}
  self.experiment_tag = opts.experiment_tag or ""
  self.stopping_criterion = opts.stopping_criterion or {}
  self.checkpoint_freq = opts.checkpoint_freq or 0
  self.checkpoint_at_end = opts.checkpoint_at_end or false
  self.keep_checkpoints_num = opts.keep_checkpoints_num
  self.checkpoint_score_attr = opts.checkpoint_score_attr or "training_iteration"
  self.restore_path = opts.restore_path
  self.trial_name_creator = opts.trial_name_creator
  self.trial_dirname_creator = opts.trial_dirname_creator
  self.log_to_file = opts.log_to_file
  self.max_failures = opts.max_failures or 0
  self.num_failures = 0
  self.status = Trial.PENDING
  self.last_result = {}
  self.logdir = opts.logdir
  self.error_file = nil
  self.error_msg = nil
  self.saving_to = nil
  self.restoring_from = nil
  self.custom_trial_name = nil
  self._loader = opts.loader or (entry and registry.loader(entry))
  self._resettable = entry and registry.resettable(entry.trainable) or false
  local pgf = opts.placement_group_factory or opts.resources
  if pgf == nil and entry and entry.kind == "class" then
    pgf = entry.trainable:default_resource_request(self.config)
  end
  self.placement_group_factory = placement.to_pgf(pgf, 3) or placement.PlacementGroupFactory({{CPU = 1}})
  self.resources = self.placement_group_factory:head()
  self.checkpoint_manager = ckpt.CheckpointManager{
    keep_checkpoints_num = self.keep_checkpoints_num,
    checkpoint_score_attr = self.checkpoint_score_attr,
  }
  if self.trial_name_creator then
    -- The user's function is wrong, not the search algorithm (it was blamed).
    local refuse = require("tune.experiment.refusal").refuse
    local ok, name = pcall(self.trial_name_creator, self)
    if not ok then refuse("tune.run: trial_name_creator failed: " .. tostring(name)) end
    if type(name) ~= "string" and type(name) ~= "number" then
      refuse("tune.run: trial_name_creator must return the trial's name (a string), got " .. type(name))
    end
    -- (It failed the experiment's snapshot, in two messages from inside the library.)
    if type(name) == "string" and name:find("\0", 1, true) then
      refuse("tune.run: trial_name_creator must return a name without a NUL character, got " .. string.format("%q", name))
    end
    self.custom_trial_name = tostring(name)
  end
end

--- Ray's Trial.checkpoint: the newest checkpoint, or after an error the
--- newest persistent one (a pause checkpoint never replaces it); else the
--- restore_path.
local function newest(self)
  if self.status == Trial.ERROR then return self.checkpoint_manager:newest_persistent() end
  return self.checkpoint_manager:newest()
end

function Trial:get_checkpoint()
  local c = newest(self)
  if c == nil or c.dir_or_data == nil then
    c = ckpt.Checkpoint{dir_or_data = self.restore_path, storage_mode = ckpt.CheckpointStorage.PERSISTENT}
  end
  return c
end

--- What a start restores from, get_checkpoint's choice without making a
--- Checkpoint for the restore_path: its directory and whether it is
--- persistent, or nil.
function Trial:restore_source()
  local c = newest(self)
  if c ~= nil and c.dir_or_data ~= nil then
    return c.dir_or_data, c.storage_mode == ckpt.CheckpointStorage.PERSISTENT
  end
  local path = rawget(self, "restore_path")
  if path ~= nil then return path, true end
  return nil
end

--- `trial.checkpoint` is computed, as in Ray.
Trial.__index = function(self, k)
  local v = Trial[k]
  if v == nil and k == "checkpoint" then return Trial.get_checkpoint(self) end
  return v
end

function Trial:has_checkpoint() return self.checkpoint.dir_or_data ~= nil end

--- Tells the runner that owns the trial (TrialRunner:add_trial) that its
--- status, config, tag or resources changed, so the change is journaled.
local function changed(self)
  local set = rawget(self, "_changes")
  if set and not set[self] then
    set[self] = true
    set[#set + 1] = self
  end
end
Trial.changed = changed

local STATUSES = {PENDING = true, RUNNING = true, PAUSED = true, TERMINATED = true, ERROR = true}

function Trial:set_status(status)
  if not STATUSES[status] then
    -- A typo here would leave the trial in no state the runner knows
    -- (it waited for it forever) and the snapshot unresumable.
    error(string.format("trial %s: unknown status %s (PENDING, RUNNING, PAUSED, TERMINATED or ERROR)", tostring(self),
      type(status) == "string" and string.format("%q", status) or tostring(status)), 2)
  end
  self.status = status
  changed(self)
end

--- A new config (and experiment tag): what PBT's exploit and reset_trial do.
function Trial:set_config(config, experiment_tag)
  -- A config is JSON (journaled, written to params.json, sent to workers).
  local why = type(config) ~= "table" and "a " .. type(config) or util.not_plain(config)
  if why then
    error(string.format("trial %s: its new config holds %s, which a trial's config cannot hold (plain data only)",
      tostring(self), why), 2)
  end
  self.config = config
  if experiment_tag ~= nil then self.experiment_tag = experiment_tag end
  changed(self)
end

--- New resources (Ray's Trial.update_resources): a PlacementGroupFactory.
function Trial:update_resources(pgf)
  self.placement_group_factory = pgf
  self.resources = pgf:head()
  changed(self)
end

function Trial:update_last_result(result)
  self.last_result = result
end

--- Registers a completed checkpoint.
function Trial:on_checkpoint(checkpoint)
  self.checkpoint_manager:on_checkpoint(checkpoint, tostring(self))
  if checkpoint.storage_mode == ckpt.CheckpointStorage.PERSISTENT then
    self.saving_to = nil
  end
end

function Trial:on_restore()
  self.restoring_from = nil
end

function Trial:is_restoring() return self.restoring_from ~= nil end

function Trial:is_saving() return self.saving_to ~= nil end

function Trial:is_finished() return self.status == Trial.TERMINATED or self.status == Trial.ERROR end

--- Ray's should_stop: a stopping criterion met, or done.
function Trial:should_stop(result)
  if result.done then return true end
  for key, bound in pairs(self.stopping_criterion) do
    local v = util.get_path(result, key)
    if v == nil then
      error(string.format("stopping criterion %q is not in the result of trial %s (keys: %s)",
        key, self.trial_id, table.concat(util.sorted_keys(util.flatten(result)), ", ")), 0)
    end
    -- Ray compares result[key] >= bound: a bool as an int, anything else raises.
    if type(v) == "boolean" then v = v and 1 or 0 end
    if type(v) ~= "number" then
      error(string.format("stopping criterion %q of trial %s is not a number: %s", key, self.trial_id,
        type(v) == "string" and string.format("%q", v:sub(1, 80)) or v == core.null and "null" or type(v)), 0)
    end
    if v >= bound then return true end
  end
  return false
end

--- Ray's should_checkpoint: every checkpoint_freq iterations. `result`
--- (the last result when not given) is the one to judge.
function Trial:should_checkpoint(result)
  local it = (result or self.last_result).training_iteration or 0
  return self.checkpoint_freq > 0 and it > 0 and it % self.checkpoint_freq == 0
end

--- "/", control characters, brackets, quotes, spaces and ":" become "_",
--- as does ".." ("=" and "," stay, as in Ray).
local function sanitize(s)
  -- Most names need nothing: letters, digits and _-=,. without "..".
  if not s:find("[^%w_%-=,%.]") and not s:find("..", 1, true) then return s end
  -- A byte that is not UTF-8 (a name creator's Latin-1) becomes "_" too:
  -- the path travels as JSON text, where it would name another directory.
  while true do
    local ok, bad = utf8.len(s)
    if ok then break end
    s = s:sub(1, bad - 1) .. "_" .. s:sub(bad + 1)
  end
  return (s:gsub("[/%c%[%]%(%)\"'%s:]", "_"):gsub("%.%.", "_"))
end
M.sanitize = sanitize

--- At most `n` bytes of `s`, cut where a UTF-8 character begins (a name
--- cut inside one read back as U+FFFD, another directory's).
local function prefix(s, n)
  if #s <= n then return s end
  while n > 0 and (s:byte(n + 1) or 0) & 0xC0 == 0x80 do n = n - 1 end
  return s:sub(1, n)
end

--- Basename of the trial directory (at most 200 bytes).
function Trial:dirname()
  local base
  if self.trial_dirname_creator then
    local ok, name = pcall(self.trial_dirname_creator, self)
    if not ok then error("trial_dirname_creator failed: " .. tostring(name), 0) end
    if type(name) ~= "string" and type(name) ~= "number" then
      error("trial_dirname_creator must return the directory's name (a string), got " .. type(name), 0)
    end
    base = tostring(name)
    if base:find("/", 1, true) then
      error("trial_dirname_creator must return a name, not a path: " .. base, 0)
    end
  else
    base = tostring(self)
    if self.experiment_tag ~= "" then base = base .. "_" .. self.experiment_tag end
    base = prefix(base, env.max_len_identifier()) .. "_" .. util.date_str()
  end
  base = sanitize(base)
  if base == "" or base == "." then base = "trial_" .. self.trial_id end
  return prefix(base, MAX_DIRNAME)
end

--- Starts making the directory of a trial that waits its turn, on the
--- directory thread (core.prepare_dir): the directory init_logdir would
--- make, with params.json and the empty result.json and progress.csv the
--- loggers open at start. init_logdir takes it over; one it could not make
--- is left to init_logdir. `lazy`: the trial will not start soon (the
--- thread is woken for a few such jobs at once). True when it started.
function Trial:prepare_logdir(lazy)
  if rawget(self, "logdir") ~= nil or rawget(self, "_prep") ~= nil then return false end
  local ok, name = pcall(self.dirname, self)
  local params = ok and core.json_encode(self.config)
  if not params then return false end
  local root = self.local_dir
  if self.experiment_dir_name then root = util.join(root, self.experiment_dir_name) end
  local path = util.join(root, name)
  local job = core.prepare_dir(path, params, lazy)
  if not job then return false end
  self._prep, self._prep_path, self._prep_config = job, path, self.config
  return true
end

--- The directory prepare_logdir started, once made: the trial's now
--- (true), or nothing (it could not be made). Its params.json holds the
--- config of that time (_params_of): written again at start if the trial's
--- config is another table by then.
local function take_prepared(self)
  local job, path = self._prep, self._prep_path
  self._prep, self._prep_path = nil, nil
  local made = job:wait()
  if made then
    self.logdir = path
    self._params_of = self._prep_config
    -- The job holds the log files open: the loggers take them.
    self._logs_made = job
    self._dir_fresh = true
  end
  self._prep_config = nil
  return made
end

--- Whether result.json and progress.csv were made, empty, with the
--- directory and nothing opened them since: once, for the first start's
--- loggers, the core.prepare_dir job that made them (it may hold them
--- open, engine/fsprep.h), else false.
function Trial:take_logs_made()
  local made = rawget(self, "_logs_made") or false
  self._logs_made = nil
  return made
end

local MADE_AHEAD = {["params.json"] = true, ["result.json"] = true, ["progress.csv"] = true}

--- Removes `path` if it is a trial directory made ahead (prepare_logdir)
--- and never used: holding nothing but params.json and an empty
--- result.json and progress.csv. Anything else (an error.txt, a log
--- written to) keeps it whole. True when it went.
function M.remove_unused_logdir(path)
  if core.stat(path) ~= "directory" then return false end
  local names = core.listdir(path) or {}
  for _, name in ipairs(names) do
    if not MADE_AHEAD[name] then return false end
    if name ~= "params.json" and core.read_file(util.join(path, name), 1) ~= "" then return false end
  end
  for _, name in ipairs(names) do os.remove(util.join(path, name)) end
  return os.remove(path) ~= nil
end

--- Removes the directory made ahead for a trial that never started
--- (M.remove_unused_logdir).
function Trial:drop_prepared_logdir()
  local path
  if rawget(self, "_prep") then
    local job = self._prep
    path = self._prep_path
    self._prep, self._prep_path, self._prep_config = nil, nil, nil
    if not job:wait() then return end
  elseif rawget(self, "_premade_logdir") then
    path = self.logdir
    self._premade_logdir = nil
  else
    return
  end
  if M.remove_unused_logdir(path) and self.logdir == path then
    self.logdir = nil
    self._params_of, self._logs_made, self._dir_fresh = nil, nil, nil
  end
end

--- A directory that cannot be made (a full disk) is the trial's error, without a position of ours.
local function made_or_raise(made, err)
  if not made then error("cannot make the trial directory " .. tostring(err), 0) end
end

--- Creates the trial directory under local_dir (Ray's init_logdir).
function Trial:init_logdir()
  if rawget(self, "_prep") and take_prepared(self) then return self.logdir end
  if self.logdir then
    -- Just made (by the runner while it waited, and now the start asks):
    -- no need to look. Later starts make sure it is still there.
    if rawget(self, "_dir_fresh") then self._dir_fresh = nil else made_or_raise(core.mkdir_p(self.logdir)) end
    return self.logdir
  end
  local root = self.local_dir
  if self.experiment_dir_name then root = util.join(root, self.experiment_dir_name) end
  local name = self:dirname()
  local path = util.join(root, name)
  -- A new directory, made with one mkdir(2); a name already taken gets a
  -- random suffix (Ray's behaviour).
  local made, err = core.mkdir_new(path)
  while made == false do
    local suffix = "_" .. util.random_hex(4)
    path = util.join(root, prefix(name, MAX_DIRNAME - #suffix) .. suffix)
    made, err = core.mkdir_new(path)
  end
  made_or_raise(made, err)
  self.logdir = path
  self._dir_fresh = true
  return path
end

--- Records a failure (Ray's Trial.handle_error): counts it, remembers the
--- message, and appends it with its traceback to the trial's error.txt.
--- This is the one writer of that file, whoever detected the failure (the
--- engine, the runner, a trial that can never run).
function Trial:handle_error(msg, traceback)
  self.num_failures = self.num_failures + 1
  self.error_msg = msg
  if self.logdir then
    self.error_file = util.join(self.logdir, "error.txt")
    local text = string.format("Failure # %d (occurred at %s)\n%s\n", self.num_failures,
      os.date("%Y-%m-%d_%H-%M-%S"), tostring(msg))
    if traceback and traceback ~= "" and not tostring(msg):find(traceback, 1, true) then
      text = text .. traceback .. "\n"
    end
    local ok, err = core.append(self.error_file, text)
    if not ok then
      -- The message names the file already ("<path>: No space left on device").
      io.stderr:write("tunelua warning: cannot write ", util.with_path(self.error_file, err), "\n")
    end
  end
end

function Trial:__tostring()
  local custom = rawget(self, "custom_trial_name")
  if custom then return custom end
  -- Made once (a trial is named in several lines and tables): its
  -- trainable's name and its id do not change.
  local name = rawget(self, "_name")
  if name == nil then
    name = string.format("%s_%s", self.trainable_name, self.trial_id)
    self._name = name
  end
  return name
end

--- A scheduler's change to any trial-like object: through the Trial
--- method (which journals it) when there is one, else by assignment (the
--- stand-in trials of scheduler tests).
function M.set_config(trial, config, experiment_tag)
  if trial.set_config then return trial:set_config(config, experiment_tag) end
  trial.config = config
  if experiment_tag ~= nil then trial.experiment_tag = experiment_tag end
end

function M.update_resources(trial, pgf)
  if trial.update_resources then return trial:update_resources(pgf) end
  trial.placement_group_factory = pgf
  trial.resources = pgf:head()
end

M.Trial = Trial

--- Raises, at the caller's caller, unless `v` is a trial: a method's
--- argument (a nil or a name failed inside the method).
function M.check(v, method)
  if type(v) ~= "table" or type(rawget(v, "trial_id")) ~= "string" then
    error(string.format("%s: expected a Trial, got %s", method, util.show_got(v)), 3)
  end
end

return M
