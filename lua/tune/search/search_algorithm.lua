--- SearchAlgorithm: what the runner asks for trials (Ray's
--- SearchAlgorithm). BasicVariantGenerator and SearchGenerator (around a
--- Searcher) are the two kinds.
local class = require("tune.class")
local util = require("tune.util")

local SearchAlgorithm = class.class("SearchAlgorithm")

function SearchAlgorithm:__init()
  self._finished = false
  self.total_samples = 0
end

--- Takes the experiment(s) to generate trials for.
function SearchAlgorithm:add_configurations(experiments) end
--- The next Trial, or nil (none now; see is_finished).
function SearchAlgorithm:next_trial() return nil end
-- on_trial_result(trial_id, result), on_trial_complete(trial_id, result,
-- error): nothing by default.
SearchAlgorithm.on_trial_result = util.noop
SearchAlgorithm.on_trial_complete = util.noop
function SearchAlgorithm:is_finished() return self._finished end
function SearchAlgorithm:set_finished() self._finished = true end
--- Ray's set_search_properties: false when it already has a metric/mode
--- or a space of its own.
function SearchAlgorithm:set_search_properties(metric, mode, config) return true end
--- State for resume (JSON-serialisable), and back.
function SearchAlgorithm:save() return nil end
function SearchAlgorithm:restore(state) end

return SearchAlgorithm
