/*
** lhttp.c
** http.request(url [, opts]) -> {status, headers, body}. The request runs on
** the host's HTTP engine (http.c), on its own thread; the handler's coroutine
** waits for the answer, which comes back through the worker's inbox.
**
** Who owns a request's record (http_wait): a userdata box while it is put
** together (an error frees it with the box); the engine from http_submit until
** done, which posts it to the worker; then, on the worker's thread, the
** handler's continuation if the handler still waits for it (the box again,
** until the response is in Lua), else the inbox message, which frees it: the
** call was cancelled, and the handler went on without it.
**
** Failures raise status objects: UNAVAILABLE (DNS, connect, TLS, reset, a bad
** response), DEADLINE_EXCEEDED (a timeout), RESOURCE_EXHAUSTED (a reply over
** --max-message-bytes, --max-outbound), PERMISSION_DENIED (--outbound); each
** message names the URL and what failed, and a transport failure is logged
** (the handler may catch it). A bad argument is a plain error.
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "call.h"
#include "http.h"
#include "inbox.h"
#include "lcall.h"
#include "lhttp.h"
#include "log.h"
#include "lstatus.h"
#include "lvm.h"
#include "tag.h"

#define BOX_MT "http.request"

#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_CONNECT_TIMEOUT 10.0

typedef struct http_wait {
  http_request req;
  call_wait wait;                   /* the handler's, while it waits */
  inbox_msg answer;                 /* done posts it to the worker */
  call_queue *q;                    /* the worker's: its inbox, its count of requests in flight */
  bool answered;                    /* the answer woke the handler (else the call's cancel did) */
} http_wait;

typedef struct wait_box {
  http_wait *w;                     /* while the Lua side owns it */
} wait_box;

static void wait_free(http_wait *w) {
  http_request_free(&w->req);
  free(w);
}

static int box_gc(lua_State *L) {
  wait_box *box = lua_touserdata(L, 1);
  if (box->w != NULL) wait_free(box->w);
  box->w = NULL;
  return 0;
}

/*
** {======================================================
** Options
** =======================================================
*/

/* Their stack slots, in this order, after [url, opts]; the box comes after them. */
static const char *const option_names[] = {"method", "headers", "body", "timeout", "connect_timeout",
                                           "ca", "insecure", NULL};
enum { OPT_METHOD = 3, OPT_HEADERS, OPT_BODY, OPT_TIMEOUT, OPT_CONNECT_TIMEOUT, OPT_CA, OPT_INSECURE,
       BOX_INDEX };

typedef struct options {
  const char *method;
  bool headers;                     /* a table at OPT_HEADERS */
  const char *body;
  size_t body_len;
  double timeout;
  double connect_timeout;
  const char *ca;
  bool insecure;
} options;

/* [-0, +0, error] Every key of opts is an option, every header a string name with a string or number value. */
static bool is_option(const char *name) {
  for (int i = 0; option_names[i] != NULL; i++)
    if (strcmp(name, option_names[i]) == 0) return true;
  return false;
}

static void check_names(lua_State *L) {
  for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
    const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (name == NULL || !is_option(name))
      luaL_error(L, "http.request: unknown option '%s' (method, headers, body, timeout, connect_timeout, ca, insecure)",
                 name ? name : luaL_typename(L, -2));
  }
}

static void check_headers(lua_State *L) {
  for (lua_pushnil(L); lua_next(L, OPT_HEADERS); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "http.request: header names must be strings");
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      luaL_error(L, "http.request: header %s: expected a string, got %s", lua_tostring(L, -2), luaL_typename(L, -1));
  }
}

static double check_seconds(lua_State *L, int idx, const char *name, double def) {
  lua_Number s = luaL_optnumber(L, idx, def);
  if (!(s > 0 && s <= 1e9)) luaL_error(L, "http.request: %s must be a number of seconds above 0", name);
  return s;
}

/* [-0, +7, error] The options of the table at 2 (or nil), into o and stack slots 3 to 9. */
static void read_options(lua_State *L, options *o) {
  lua_settop(L, 2);
  bool given = !lua_isnil(L, 2);
  if (given) luaL_argexpected(L, lua_istable(L, 2), 2, "table of options");
  if (given) check_names(L);
  for (int i = 0; option_names[i] != NULL; i++) {
    if (given) lua_getfield(L, 2, option_names[i]);
    else lua_pushnil(L);
  }
  o->method = luaL_optstring(L, OPT_METHOD, "GET");
  o->headers = !lua_isnil(L, OPT_HEADERS);
  if (o->headers) luaL_argexpected(L, lua_istable(L, OPT_HEADERS), 2, "headers as a table");
  if (o->headers) check_headers(L);
  o->body = luaL_optlstring(L, OPT_BODY, "", &o->body_len);
  o->timeout = check_seconds(L, OPT_TIMEOUT, "timeout", DEFAULT_TIMEOUT);
  o->connect_timeout = check_seconds(L, OPT_CONNECT_TIMEOUT, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  o->ca = luaL_optstring(L, OPT_CA, NULL);
  if (!lua_isnoneornil(L, OPT_INSECURE)) luaL_checktype(L, OPT_INSECURE, LUA_TBOOLEAN);
  o->insecure = lua_toboolean(L, OPT_INSECURE);
}

/* }====================================================== */

/*
** {======================================================
** The request
** =======================================================
*/

/* [-0, +0] The headers into r; -1 with err set. Raises nothing (the values were checked). */
static int add_headers(lua_State *L, http_request *r, char *err, size_t errlen) {
  for (lua_pushnil(L); lua_next(L, OPT_HEADERS); lua_pop(L, 1)) {
    size_t nlen, vlen;
    const char *name = lua_tolstring(L, -2, &nlen), *value;
    char number[64];
    if (lua_type(L, -1) == LUA_TSTRING) {
      value = lua_tolstring(L, -1, &vlen);
    } else {                        /* a number, formatted without converting the table's value */
      if (lua_isinteger(L, -1)) snprintf(number, sizeof number, LUA_INTEGER_FMT, lua_tointeger(L, -1));
      else snprintf(number, sizeof number, LUA_NUMBER_FMT, lua_tonumber(L, -1));
      value = number;
      vlen = strlen(number);
    }
    if (http_request_header(r, name, nlen, value, vlen, err, errlen) != 0) {
      lua_pop(L, 2);
      return -1;
    }
  }
  return 0;
}

/* r put together; -1 with what is wrong in err. */
static int build(lua_State *L, http_request *r, const char *url, size_t url_len, const options *o,
                 char *err, size_t errlen) {
  if (http_request_init(r, o->method, url, url_len, err, errlen) != 0) return -1;
  if (o->headers && add_headers(L, r, err, errlen) != 0) return -1;
  if (http_request_end(r, o->body, o->body_len) == 0 && (o->ca == NULL || http_request_set_ca(r, o->ca) == 0))
    return 0;
  snprintf(err, errlen, "out of memory");
  return -1;
}

/* [-0, +1, error] The response of r as {status = N, headers = {name = value}, body = S}. */
static void push_response(lua_State *L, const http_request *r) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, "status");
  lua_createtable(L, 0, (int)r->n_headers);
  size_t pos = 0;
  const char *name, *value;
  while (http_response_header(r, &pos, &name, &value)) {
    if (lua_getfield(L, -1, name) == LUA_TSTRING) {
      lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);   /* a repeated header: joined */
      lua_remove(L, -2);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, value);
    }
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
  lua_setfield(L, -2, "body");
}

static grpc_status_code failure_code(http_failure f) {
  switch (f) {
  case HTTP_FAILED_TIMEOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
  case HTTP_FAILED_TOO_LARGE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  default: return GRPC_STATUS_UNAVAILABLE;
  }
}

/* The handler resumes: with the answer, or because its call was cancelled (the answer then frees w). */
static int request_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  http_wait *w = (http_wait *)ctx;
  if (!w->answered) return lcall_raise_cancelled(L, lcall_current(L)->call);
  wait_box *box = lua_touserdata(L, BOX_INDEX);
  box->w = w;
  http_request *r = &w->req;
  if (r->status == 0) {
    grpc_status_code code = failure_code(r->failure);
    log_line(LOG_WARN, "http.request failed", "method", call_method(lcall_current(L)->call)->path,
             "url", r->shown, "error", r->error, NULL);
    lua_pushfstring(L, "http.request %s: %s", r->shown, r->error);
    wait_free(w);
    box->w = NULL;
    return lstatus_raise_at(L, code, -1, 0);
  }
  push_response(L, r);
  wait_free(w);
  box->w = NULL;
  return 1;
}

/* On the engine's thread: hand w to its worker. */
static void on_done(http_request *r) {
  http_wait *w = CONTAINER_OF(r, http_wait, req);
  inbox_post(w->q->inbox, &w->answer);
}

/* On the worker's thread: the answer wakes the handler, or is dropped if the handler went on without it. */
static void on_answer(inbox_msg *m) {
  http_wait *w = CONTAINER_OF(m, http_wait, answer);
  w->q->outbound--;
  if (w->wait.call == NULL) return wait_free(w);
  w->answered = true;
  call_wait_end(&w->wait);
}

/* The call was cancelled while its handler waited: the engine drops the request. */
static void cancel_request(call_wait *wait) {
  http_cancel(&CONTAINER_OF(wait, http_wait, wait)->req);
}

static const call_wait_type request_wait = {"http.request", NULL, cancel_request};

/* Raises code with the message "http.request URL: what". */
static int refuse(lua_State *L, grpc_status_code code, const http_request *r, const char *what) {
  return lstatus_raise(L, code, "http.request %s: %s", r->shown, what);
}

/* [-0, +1, error] http.request(url [, opts]) */
static int lhttp_request(lua_State *L) {
  call *c = lcall_check_handler(L, "http.request");
  size_t url_len;
  const char *url = luaL_checklstring(L, 1, &url_len);
  options o;
  read_options(L, &o);
  if (call_cancelled(c)) return lcall_raise_cancelled(L, c);
  wait_box *box = lua_newuserdatauv(L, sizeof *box, 0);   /* BOX_INDEX */
  box->w = NULL;
  luaL_setmetatable(L, BOX_MT);
  http_wait *w = box->w = calloc(1, sizeof *w);
  if (w == NULL) return luaL_error(L, "http.request: out of memory");
  char err[HTTP_ERROR_MAX];
  http_request *r = &w->req;
  if (build(L, r, url, url_len, &o, err, sizeof err) != 0)
    return luaL_error(L, "http.request %s: %s", r->shown ? r->shown : url, err);
  const config *cfg = lvm_of(L)->cfg;
  call_queue *q = call_queue_of(c);
  if (!outbound_allowed(cfg->outbound, r->host, r->port))
    return refuse(L, GRPC_STATUS_PERMISSION_DENIED, r, "the host and port are not in --outbound");
  if (q->outbound >= q->max_outbound) {
    lua_pushfstring(L, "more than --max-outbound (%d) requests in flight on this worker", (int)q->max_outbound);
    return refuse(L, GRPC_STATUS_RESOURCE_EXHAUSTED, r, lua_tostring(L, -1));
  }
  double left = call_seconds_left(c);
  r->timeout = left >= 0 && left < o.timeout ? left : o.timeout;
  r->connect_timeout = o.connect_timeout;
  r->insecure = o.insecure;
  r->max_response_bytes = (size_t)cfg->max_message_bytes;
  r->done = on_done;
  w->q = q;
  w->answer.run = on_answer;
  call_wait_init(&w->wait, &request_wait);
  box->w = NULL;                    /* the engine's now */
  q->outbound++;
  call_wait_begin(c, &w->wait);
  http_submit(q->http, r);
  return lua_yieldk(L, 0, (lua_KContext)w, request_k);
}

/* }====================================================== */

static const luaL_Reg functions[] = {
  {"request", lhttp_request},
  {NULL, NULL}};

int luaopen_http(lua_State *L) {
  luaL_newmetatable(L, BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
