/* adhoc.h: XEP-0050 ad-hoc commands offered by other modules. A module
 * lists its commands on the "adhoc/commands" event (ev->data is a struct
 * adhoc_list; the handler calls adhoc_offer and returns HOOK_CONTINUE),
 * so only the modules a host enables have commands there. The adhoc
 * module keeps the sessions of multi-stage commands: a command that
 * returns ADHOC_EXECUTING (a form to fill) is run again with the
 * submitted form when the requester sends it with the sessionid. */
#ifndef TERN_MOD_ADHOC_H
#define TERN_MOD_ADHOC_H

#include <stddef.h>

#include "core/hook.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_XDATA "jabber:x:data"

enum adhoc_status {
	ADHOC_COMPLETED, /* done: the reply says status='completed' */
	ADHOC_EXECUTING, /* a form for the requester to fill and submit */
	ADHOC_ERROR,	 /* the request is answered with rq's stanza error */
};

struct adhoc_req {
	struct hook_ev *ev;
	/* the submitted <x type='submit'/> (XEP-0004), or NULL on the
	 * first stage when none came with the request */
	struct xml_node *form;
	struct xml_node *cmd; /* the reply's <command/>: add <x/>, <note/> */
	const char *err_type, *err_cond;
	char err_text[256];
};

struct adhoc_cmd {
	const char *node, *name;
	/* may ev->from see and run it? NULL: any user of the host */
	int (*allowed)(const struct hook_ev *ev);
	enum adhoc_status (*run)(struct adhoc_req *rq);
};

struct adhoc_list;

void adhoc_offer(struct adhoc_list *l, const struct adhoc_cmd *cmds, size_t n);

/* Answer the request with a stanza error (text: printf format, for the
 * requester to read); returns ADHOC_ERROR. */
enum adhoc_status adhoc_fail(struct adhoc_req *rq, const char *type,
    const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* <note type='info|warn|error'>text</note> in the reply. */
void adhoc_note(struct adhoc_req *rq, const char *type, const char *text);
/* A data form (type "form" or "result") in the reply, with its
 * FORM_TYPE hidden field when form_type is not NULL. */
struct xml_node *adhoc_form(struct adhoc_req *rq, const char *type,
    const char *title, const char *instructions, const char *form_type);
/* A field of form x; type and label may be NULL. */
struct xml_node *adhoc_field(struct xml_node *x, const char *var,
    const char *type, const char *label, int required);
void adhoc_value(struct xml_node *field, const char *v);
/* The submitted field var (NULL when absent or no form). */
struct xml_node *adhoc_submitted(const struct adhoc_req *rq, const char *var);
/* Its first <value/> text, or NULL when absent or empty. */
const char *adhoc_get(const struct adhoc_req *rq, const char *var);

#endif
