/// Placement-group factories seen from the other bindings.
#ifndef TUNE_LPGF_H
#define TUNE_LPGF_H

#include <lua.h>

#include "pgf.h"

/// The factory at `idx`: a core.pgf userdata, or a PlacementGroupFactory
/// object (whose handle() is called, and the stack slot replaced with it,
/// which keeps it alive while the slot lives). Raises otherwise.
const tune_pgf_t *tune_lpgf_check(lua_State *L, int idx);

#endif
