/* The HTTP API under /api/v1: the route table and one handler per endpoint. */
#ifndef ROTATOR_API_H
#define ROTATOR_API_H

#include <stdbool.h>

#include <h2o.h>

#include "http/call.h"
#include "store/store.h"

/* Answers one request; given to server_run(). */
void api_dispatch(h2o_req_t *req, struct store *st);

/* Exposes POST /api/v1/_test/clock. Only for test runs: it lets a client move time. */
void api_enable_test_clock(bool enabled);

/* Helpers shared by the handlers */
json_t *api_time(int64_t t);
json_t *api_optional_string(const char *s);
json_t *api_user_rotation_json(const struct rotation_event *e);
json_t *api_event_json(const struct rotation_event *e);
json_t *api_security_config_json(const struct security_config *cfg, int64_t now);

/* auth.c */
void api_register(struct call *c);
void api_login(struct call *c);
void api_refresh(struct call *c);
void api_logout(struct call *c);
void api_me(struct call *c);
void api_change_password(struct call *c);
void api_verify(struct call *c);

/* sessions.c */
void api_sessions_list(struct call *c);
void api_session_delete(struct call *c);
void api_sessions_active(struct call *c);

/* rotation.c */
void api_rotate_user(struct call *c);
void api_rotate_global(struct call *c);
void api_security_config(struct call *c);
void api_events(struct call *c);

/* system.c */
void api_health(struct call *c);
void api_test_clock(struct call *c);

#endif
