/* test_hook.c: stanza classification for hook events (core/hook.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hook.h"
#include "xml/xml.h"

static void
check(const char *name, const char *type, enum stanza_kind want_kind,
    enum stanza_type want_type)
{
	struct xml_node *st = xml_node_new("jabber:client", name);
	enum stanza_kind k;
	enum stanza_type t;

	if (type)
		xml_node_set_attr(st, "type", type);
	stanza_classify(st, &k, &t);
	assert_int_equal(k, want_kind);
	assert_int_equal(t, want_type);
	xml_node_free(st);
}

static void
test_classify(void **state)
{
	(void)state;
	check("message", NULL, STANZA_MESSAGE, STANZA_TYPE_NONE);
	check("message", "chat", STANZA_MESSAGE, STANZA_TYPE_CHAT);
	check("message", "normal", STANZA_MESSAGE, STANZA_TYPE_NORMAL);
	check("message", "groupchat", STANZA_MESSAGE, STANZA_TYPE_GROUPCHAT);
	check("message", "headline", STANZA_MESSAGE, STANZA_TYPE_HEADLINE);
	check("message", "error", STANZA_MESSAGE, STANZA_TYPE_ERROR);
	/* a type of another kind is no type of this one */
	check("message", "get", STANZA_MESSAGE, STANZA_TYPE_UNKNOWN);
	check("message", "Chat", STANZA_MESSAGE, STANZA_TYPE_UNKNOWN);
	check("presence", NULL, STANZA_PRESENCE, STANZA_TYPE_NONE);
	check("presence", "", STANZA_PRESENCE, STANZA_TYPE_NONE);
	check("presence", "unavailable", STANZA_PRESENCE,
	    STANZA_TYPE_UNAVAILABLE);
	check("presence", "probe", STANZA_PRESENCE, STANZA_TYPE_PROBE);
	check("presence", "subscribe", STANZA_PRESENCE, STANZA_TYPE_SUBSCRIBE);
	check("presence", "subscribed", STANZA_PRESENCE,
	    STANZA_TYPE_SUBSCRIBED);
	check("presence", "unsubscribe", STANZA_PRESENCE,
	    STANZA_TYPE_UNSUBSCRIBE);
	check("presence", "unsubscribed", STANZA_PRESENCE,
	    STANZA_TYPE_UNSUBSCRIBED);
	check("presence", "chat", STANZA_PRESENCE, STANZA_TYPE_UNKNOWN);
	check("iq", "get", STANZA_IQ, STANZA_TYPE_GET);
	check("iq", "set", STANZA_IQ, STANZA_TYPE_SET);
	check("iq", "result", STANZA_IQ, STANZA_TYPE_RESULT);
	check("iq", "error", STANZA_IQ, STANZA_TYPE_ERROR);
	check("iq", NULL, STANZA_IQ, STANZA_TYPE_NONE);
	check("iq", "subscribe", STANZA_IQ, STANZA_TYPE_UNKNOWN);
	check("auth", NULL, STANZA_OTHER, STANZA_TYPE_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
