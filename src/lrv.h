/* Private header of the Lua binding (rivulet.core): metatable names and the binders. */
#ifndef RIVULET_LRV_H
#define RIVULET_LRV_H

#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

#define LRV_TEMPLATE "rivulet.liquid.Template"
#define LRV_RENDER   "rivulet.liquid.Render"
#define LRV_RENDER_SLOT "rivulet.liquid.RenderSlot"
#define LRV_LQOPTS   "rivulet.liquid.Options"
#define LRV_HTTP_CLIENT "rivulet.http.Client"
#define LRV_HTTP_CALL   "rivulet.http.Call"
#define LRV_SERVER      "rivulet.server.Server"
#define LRV_LOGIC_BOX   "rivulet.logic.State"
#define LRV_LOGIC_UNIT  "rivulet.logic.Unit"

#if defined(__GNUC__)
#define LRV_EXPORT __attribute__((visibility("default")))
#else
#define LRV_EXPORT
#endif

/* The module's opener (src/lrv.c), the one symbol core.so exports; hosts that link the
** binding in put it into package.preload (src/host.c). */
LRV_EXPORT int luaopen_rivulet_core(lua_State *L);

/* Registers metatable `name` (once): the metamethods in meta (__gc, __close, ...) and, when
** methods is not NULL, those as its __index. Leaves the stack as it was. */
void lrv_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* registry key (lua_rawgetp) of the set of metatables that mark a table as an array even
** when it is empty (rivulet's array_mt, cjson's): Liquid and the JSON writer read it */
extern const char lrv_array_mts_key;

/* Each binder adds its functions to the module table at the top of the stack. */
void lrv_open_liquid(lua_State *L);
void lrv_open_http(lua_State *L);
void lrv_open_sign(lua_State *L);
void lrv_open_signal(lua_State *L);
void lrv_open_regex(lua_State *L);
void lrv_open_logic(lua_State *L);
void lrv_open_sqlite(lua_State *L);
void lrv_open_pg(lua_State *L);
void lrv_open_json(lua_State *L);
void lrv_open_step(lua_State *L);
void lrv_open_server(lua_State *L);

/* src/lrv_step.c's pieces the hot path (src/lrv_hot.c) shares: one SID source per Lua
** state (core.sid's), Split Based On's tests, Set Variables' cast */
typedef struct lrv_sid_source lrv_sid_source;
void lrv_sid_push(lua_State *L, lrv_sid_source *src, const char *prefix);
int lrv_split_kind(const char *kind);
int lrv_split_eval(lua_State *L, int kind, const char *a, size_t an, const char *v, size_t vn);
void lrv_cast_push(lua_State *L, int idx);
/* Set Variables' new tables: a copy of the variables table at idx with room for n more
** pairs, then the outputs with room for n. The widget (core.new_vars) and the hot path make
** them alike, so their pairs come out of next() in one order either way. */
void lrv_new_vars_push(lua_State *L, int idx, lua_Integer n);
/* adds core.hot_steps to the module table below the SID source at sid_idx */
void lrv_open_hot(lua_State *L, int sid_idx);

/* the output_bytes limit (<= 0: none) of the prepared options at opts, as the render
** method at fn (lrv_liquid_render's) reads them; -1 when they are not its options */
int64_t lrv_liquid_output_limit(lua_State *L, int fn, int opts);

/* Template:render(context, prepared, name, now) for C callers (src/lrv_hot.c) without the
** Lua call and its argument checks: fn is the render method (the Template metatable's
** __index.render), tpl a Template, ctx the context table, opts prepared options
** (core.liquid_options'), name the render's name, now Liquid's "now" when has_now. It runs
** protected: an error raised mid-render (out of memory) is caught and leaves the render
** state usable, as an error unwinding through the method does. Pushes the text -> 1; pushes
** the message (a render error's "name:line: message", or the error raised) -> 0; pushes
** nothing -> -1 when the arguments are not of those kinds. */
int lrv_liquid_render(lua_State *L, int fn, int tpl, int ctx, int opts, const char *name,
                      int has_now, lua_Number now);

/* the C client inside a rivulet.http.Client userdata (for the embedding API) */
struct rv_http;
struct rv_http *lrv_http_of(lua_State *L, int idx);

#endif
