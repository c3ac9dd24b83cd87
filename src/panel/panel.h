/*
 * panel: the control panel's shared pieces — the layout context every page
 * gets (navigation, organisation, user menu, CSRF token, flash), the hook
 * that loads the signed-in principal, and the page handlers of each area.
 */
#ifndef PARLEY_PANEL_PANEL_H
#define PARLEY_PANEL_PANEL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct req;

/* resp_page hook: adds the layout keys to ctx. */
void	 panel_decorate(struct req *r, cJSON *ctx);
/* router hook: fills r->session's email, organisation and role. */
bool	 panel_load_principal(struct req *r);
/* Adds {"field": name, "message": msg} to ctx.errors and ctx.error_<field>. */
void	 panel_field_error(cJSON *ctx, const char *field, const char *msg);

/* auth.c */
int	 panel_auth_login_form(struct req *r);	/* GET /login */
int	 panel_auth_login(struct req *r);	/* POST /login */
int	 panel_auth_logout(struct req *r);	/* POST /logout */

/* dashboard.c */
int	 panel_dashboard(struct req *r);	/* GET / */

/* settings.c */
int	 panel_settings_index(struct req *r);	/* GET /settings */
int	 panel_settings_password_form(struct req *r);
int	 panel_settings_password(struct req *r);

#endif
