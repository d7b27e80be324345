-- `luarocks make` (Lua 5.4) builds tunelua with CMake and installs the
-- `tune` modules, tune.core and the tunelua binary (the trials' worker)
-- into the rocks tree: docs/guide/install.md.
rockspec_format = "3.0"
package = "tunelua"
version = "0.1.0-1"
source = {
  url = "git+https://github.com/tunelua/tunelua.git",
  tag = "v0.1.0",
}
description = {
  summary = "Hyperparameter tuning with a C core and Lua 5.4 scripting",
  detailed = [[
    Ray Tune's tune.run and RayTrialExecutor for Lua 5.4: trials run as
    worker processes on placement groups; search algorithms, schedulers,
    stoppers and trainables are Lua. Needs libuv and cJSON (Debian:
    libuv1-dev, libcjson-dev) and CMake.]],
  license = "MIT",
}
dependencies = { "lua >= 5.4, < 5.5" }
external_dependencies = {
  LIBUV = { header = "uv.h" },
  LIBCJSON = { header = "cjson/cJSON.h" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    CMAKE_INSTALL_BINDIR = "$(BINDIR)",
    TUNE_INSTALL_LUA_DIR = "$(LUADIR)",
    TUNE_INSTALL_CMOD_DIR = "$(LIBDIR)",
    -- The rocks tree: <tree>/lib/lua/5.4/tune/core.so and <tree>/bin/tunelua.
    TUNE_CORE_TO_BINDIR = "../../../../bin",
    BUILD_TESTING = "OFF",
    TUNE_INSTALL_DEV = "OFF",
  },
}
