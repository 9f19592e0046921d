/* test_pubsub.c: the XEP-0060 engine (src/mod/pubsub/) driven without a
 * socket: a test service with its own access callback and a send
 * callback that captures notifications, over the in-memory store
 * (store/mem.c, with injected failures from store/mem.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "mod/pubsub/pubsub.h"
#include "store/mem.h"
#include "store/store.h"
#include "xml/xml.h"

#define OWNER "room@svc.example"
#define FRIEND "friend@example.org"

/* What the service saw: notifications (to, message) and changes. */
static struct strlist sent_to, sent_xml;
static int changes;
static char last_change[64];

/* Only the owner and FRIEND may read (a closed node, §6.1.3.4 for the
 * rest). */
static enum pubsub_err
t_access(const struct pubsub_service *s, const char *who,
    const struct pubsub_conf *c)
{
	(void)c;
	if (strcmp(who, s->jid) == 0 || strcmp(who, FRIEND) == 0)
		return PUBSUB_OK;
	return PUBSUB_E_CLOSED;
}

static void
t_send(const struct pubsub_service *s, struct xml_node *m, const char *to)
{
	struct sbuf b;

	(void)s;
	sbuf_init(&b);
	xml_serialize(m, XML_NS_CLIENT, &b);
	strlist_add(&sent_to, xstrdup(to));
	strlist_add(&sent_xml, sbuf_steal(&b, NULL));
}

static void
t_changed(const struct pubsub_service *s, const char *node, const char *id,
    const struct xml_node *payload, int by_server)
{
	(void)s;
	(void)by_server;
	changes++;
	snprintf(last_change, sizeof(last_change), "%s %s %s", node, id,
	    payload ? "published" : "retracted");
}

static const struct pubsub_ops t_ops = {
	.ns = "tps",
	.access = t_access,
	.send = t_send,
	.changed = t_changed,
};

static const struct pubsub_limits t_lim = {
	.max_items = 5,
	.max_payload = 1024,
	.max_nodes = 3,
	.max_subs = 10,
	.max_node_subs = 10,
};

static const struct pubsub_service svc = {
	.store_host = "svc.example",
	.store_user = "room",
	.jid = OWNER,
	.lim = &t_lim,
	.ops = &t_ops,
};

static int
setup(void **state)
{
	char err[128];

	(void)state;
	store_main = store_open("memory", "unused", err, sizeof(err));
	changes = 0;
	return store_main ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	store_commit();
	store_close(store_main);
	store_main = NULL;
	strlist_free(&sent_to);
	strlist_free(&sent_xml);
	return 0;
}

static struct xml_node *
payload(const char *text)
{
	struct xml_node *p = xml_node_new("urn:test", "entry");

	xml_node_text(p, text, strlen(text));
	return p;
}

static struct xml_node *
parse(const char *s)
{
	struct xml_node *x = xml_parse_element(s, strlen(s));

	assert_non_null(x);
	return x;
}

/* Publish text as item id (NULL: generated) with no publish-options. */
static enum pubsub_err
publish(const char *node, const char *id, const char *text, char *new_id)
{
	struct xml_node *p = payload(text);
	struct pubsub_conf want;
	enum pubsub_err e;

	pubsub_conf_default(&svc, &want);
	e = pubsub_publish(&svc, node, id, p, &want, 0, 0, new_id);
	pubsub_conf_cleanup(&want);
	xml_node_free(p);
	return e;
}

/* The node's item ids, oldest first, joined by spaces. */
static char *
item_ids(const char *node)
{
	struct pubsub_items it;
	struct sbuf b;
	size_t i;

	assert_int_equal(pubsub_items_load(&svc, node, &it), 0);
	sbuf_init(&b);
	sbuf_puts(&b, "");
	for (i = 0; i < it.n; i++)
		sbuf_printf(&b, "%s%s", i ? " " : "", it.v[i].id);
	pubsub_items_free(&it);
	return sbuf_steal(&b, NULL);
}

/* XEP-0060 §7.1: publishing creates the node (auto-create) with the
 * service's default configuration, stores the item under the given id
 * and notifies the subscribers the access callback allows, once each;
 * an item without an id gets a generated one (§7.1.1). */
static void
test_publish_and_notify(void **state)
{
	struct pubsub_conf c;
	char id[PUBSUB_ID_MAX + 1], id2[PUBSUB_ID_MAX + 1];
	char *ids;

	(void)state;
	assert_int_equal(pubsub_sub_write(&svc, "n", FRIEND "/phone", 1), 0);
	assert_int_equal(
	    pubsub_sub_write(&svc, "n", "stranger@example.org/pc", 1), 0);
	assert_int_equal(publish("n", "first", "one", id), PUBSUB_OK);
	assert_string_equal(id, "first");
	assert_int_equal(pubsub_conf_load(&svc, "n", &c), 0);
	assert_int_equal(c.access, PUBSUB_ACCESS_PRESENCE);
	assert_int_equal(c.max_items, 1);
	pubsub_conf_cleanup(&c);
	assert_int_equal(sent_to.n, 1);
	assert_string_equal(sent_to.v[0], FRIEND "/phone");
	assert_non_null(strstr(sent_xml.v[0], "from='" OWNER "'"));
	assert_non_null(strstr(sent_xml.v[0], "<items node='n'><item "
					      "id='first'><entry "
					      "xmlns='urn:test'>one</entry>"));
	assert_int_equal(changes, 1);
	assert_string_equal(last_change, "n first published");
	/* generated ids differ; max_items 1 keeps only the last */
	assert_int_equal(publish("n", NULL, "two", id), PUBSUB_OK);
	assert_int_equal(publish("n", "", "three", id2), PUBSUB_OK);
	assert_true(strlen(id) > 8);
	assert_string_not_equal(id, id2);
	ids = item_ids("n");
	assert_string_equal(ids, id2);
	free(ids);
}

/* §7.1.5 and §16.4 pubsub#max_items: a node keeps its newest items, in
 * publish order, dropping the oldest; republishing an id replaces it
 * and makes it the newest. */
static void
test_max_items_trimming(void **state)
{
	struct pubsub_conf c;
	char id[PUBSUB_ID_MAX + 1];
	char *ids;

	(void)state;
	pubsub_conf_default(&svc, &c);
	c.max_items = 3;
	assert_int_equal(pubsub_create(&svc, "log", &c), PUBSUB_OK);
	pubsub_conf_cleanup(&c);
	assert_int_equal(publish("log", "a", "1", id), PUBSUB_OK);
	assert_int_equal(publish("log", "b", "2", id), PUBSUB_OK);
	assert_int_equal(publish("log", "c", "3", id), PUBSUB_OK);
	assert_int_equal(publish("log", "d", "4", id), PUBSUB_OK);
	ids = item_ids("log");
	assert_string_equal(ids, "b c d");
	free(ids);
	assert_int_equal(publish("log", "b", "2 again", id), PUBSUB_OK);
	ids = item_ids("log");
	assert_string_equal(ids, "c d b");
	free(ids);
	/* lowering max_items and trimming keeps the newest */
	assert_int_equal(pubsub_conf_load(&svc, "log", &c), 0);
	c.max_items = 1;
	assert_int_equal(pubsub_conf_save(&svc, "log", &c), 0);
	pubsub_items_trim(&svc, "log", &c);
	pubsub_conf_cleanup(&c);
	ids = item_ids("log");
	assert_string_equal(ids, "b");
	free(ids);
}

/* §7.2: retracting removes the item and notifies <retract id=…/>
 * (pubsub#notify_retract); an unknown item or node is item-not-found. */
static void
test_retract(void **state)
{
	char id[PUBSUB_ID_MAX + 1];
	char *ids;

	(void)state;
	assert_int_equal(publish("n", "x", "1", id), PUBSUB_OK);
	assert_int_equal(pubsub_sub_write(&svc, "n", FRIEND, 1), 0);
	assert_int_equal(pubsub_retract(&svc, "n", "x", 0), PUBSUB_OK);
	ids = item_ids("n");
	assert_string_equal(ids, "");
	free(ids);
	assert_int_equal(sent_to.n, 1);
	assert_string_equal(sent_to.v[0], FRIEND);
	assert_non_null(strstr(sent_xml.v[0], "<retract id='x'/>"));
	assert_string_equal(last_change, "n x retracted");
	assert_int_equal(pubsub_retract(&svc, "n", "x", 0), PUBSUB_E_NOT_FOUND);
	assert_int_equal(
	    pubsub_retract(&svc, "nope", "x", 0), PUBSUB_E_NOT_FOUND);
}

/* §6.1.3 / §6.5.x: the service's access callback decides who may read
 * a node; no node is item-not-found; a refused subscriber hears
 * nothing of a purge, the allowed one does (§8.5). */
static void
test_access_refused(void **state)
{
	struct pubsub_conf c;
	char id[PUBSUB_ID_MAX + 1];

	(void)state;
	assert_int_equal(publish("n", "x", "1", id), PUBSUB_OK);
	assert_int_equal(pubsub_node_access(&svc, "n", "stranger@example.org"),
	    PUBSUB_E_CLOSED);
	assert_int_equal(pubsub_node_access(&svc, "n", FRIEND), PUBSUB_OK);
	assert_int_equal(pubsub_node_access(&svc, "n", OWNER), PUBSUB_OK);
	assert_int_equal(
	    pubsub_node_access(&svc, "none", FRIEND), PUBSUB_E_NOT_FOUND);
	assert_int_equal(
	    pubsub_sub_write(&svc, "n", "stranger@example.org", 1), 0);
	assert_int_equal(pubsub_sub_write(&svc, "n", FRIEND "/a", 1), 0);
	assert_int_equal(pubsub_conf_load(&svc, "n", &c), 0);
	pubsub_purge(&svc, "n", &c);
	pubsub_conf_cleanup(&c);
	assert_int_equal(sent_to.n, 1);
	assert_string_equal(sent_to.v[0], FRIEND "/a");
	assert_non_null(strstr(sent_xml.v[0], "<purge node='n'/>"));
}

/* §7.1.5: publish-options are a precondition on an existing node
 * (precondition-not-met when one differs) and the configuration of a
 * node the publish creates. */
static void
test_publish_options(void **state)
{
	struct xml_node *p = payload("k");
	struct pubsub_conf want, c;
	char id[PUBSUB_ID_MAX + 1];

	(void)state;
	pubsub_conf_default(&svc, &want);
	want.access = PUBSUB_ACCESS_OPEN;
	assert_int_equal(pubsub_publish(&svc, "keys", NULL, p, &want,
			     PUBSUB_OPT_ACCESS, 0, id),
	    PUBSUB_OK);
	pubsub_conf_cleanup(&want);
	assert_int_equal(pubsub_conf_load(&svc, "keys", &c), 0);
	assert_int_equal(c.access, PUBSUB_ACCESS_OPEN);
	pubsub_conf_cleanup(&c);
	/* the same options: fine; another access model: refused */
	pubsub_conf_default(&svc, &want);
	want.access = PUBSUB_ACCESS_OPEN;
	assert_int_equal(pubsub_publish(&svc, "keys", NULL, p, &want,
			     PUBSUB_OPT_ACCESS, 0, id),
	    PUBSUB_OK);
	want.access = PUBSUB_ACCESS_PRESENCE;
	assert_int_equal(pubsub_publish(&svc, "keys", NULL, p, &want,
			     PUBSUB_OPT_ACCESS, 0, id),
	    PUBSUB_E_PRECOND);
	/* an option not named is not checked */
	want.max_items = 4;
	assert_int_equal(
	    pubsub_publish(&svc, "keys", NULL, p, &want, 0, 0, id), PUBSUB_OK);
	want.access = PUBSUB_ACCESS_OPEN;
	assert_int_equal(pubsub_publish(&svc, "keys", NULL, p, &want,
			     PUBSUB_OPT_ACCESS | PUBSUB_OPT_MAX, 0, id),
	    PUBSUB_E_PRECOND);
	pubsub_conf_cleanup(&want);
	xml_node_free(p);
}

/* §16.4 data forms: the publish-options form sets the options it names
 * and reports them; bad values are invalid-options, a max_items over
 * the service's limit is max-items-exceeded (§7.1.3.x). */
static void
test_form_apply(void **state)
{
	static const char form[] =
	    "<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE' type='hidden'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='pubsub#access_model'><value>open</value></field>"
	    "<field var='pubsub#max_items'><value>max</value></field>"
	    "<field var='pubsub#persist_items'><value>true</value></field>"
	    "</x>";
	struct xml_node *x = parse(form);
	struct xml_node *bad;
	struct pubsub_conf c;
	unsigned set;

	(void)state;
	pubsub_conf_default(&svc, &c);
	assert_int_equal(pubsub_form_apply(&svc, x, &c, &set), PUBSUB_OK);
	assert_int_equal(
	    set, PUBSUB_OPT_ACCESS | PUBSUB_OPT_MAX | PUBSUB_OPT_PERSIST);
	assert_int_equal(c.access, PUBSUB_ACCESS_OPEN);
	assert_int_equal(c.max_items, t_lim.max_items);
	xml_node_free(x);
	bad = parse("<x xmlns='jabber:x:data'><field var='pubsub#max_items'>"
		    "<value>6</value></field></x>");
	assert_int_equal(
	    pubsub_form_apply(&svc, bad, &c, &set), PUBSUB_E_MAX_ITEMS);
	xml_node_free(bad);
	bad = parse("<x xmlns='jabber:x:data'><field var='pubsub#access_model'>"
		    "<value>x</value></field></x>");
	assert_int_equal(
	    pubsub_form_apply(&svc, bad, &c, &set), PUBSUB_E_OPTIONS);
	xml_node_free(bad);
	pubsub_conf_cleanup(&c);
}

/* The service's limits (§7.1.3.x): node names, payload size, node
 * count; a failed storage write is an internal error, and nothing is
 * notified. */
static void
test_limits_and_failures(void **state)
{
	char id[PUBSUB_ID_MAX + 1], big[2048];

	(void)state;
	assert_int_equal(publish("", "x", "1", id), PUBSUB_E_NODEID);
	assert_int_equal(publish("a\nb", "x", "1", id), PUBSUB_E_NODEID);
	assert_int_equal(publish("n", "a\nb", "1", id), PUBSUB_E_BAD);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(publish("n", "x", big, id), PUBSUB_E_TOO_BIG);
	assert_int_equal(publish("n1", "x", "1", id), PUBSUB_OK);
	assert_int_equal(publish("n2", "x", "1", id), PUBSUB_OK);
	assert_int_equal(publish("n3", "x", "1", id), PUBSUB_OK);
	assert_int_equal(publish("n4", "x", "1", id), PUBSUB_E_MAX_NODES);
	assert_int_equal(pubsub_sub_write(&svc, "n1", FRIEND, 1), 0);
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_WRITE, 0, 1), 0);
	assert_int_equal(publish("n1", "y", "2", id), PUBSUB_E_INTERNAL);
	assert_int_equal(sent_to.n, 0);
	assert_int_equal(publish("n1", "y", "2", id), PUBSUB_OK);
	assert_int_equal(sent_to.n, 1);
}

/* §8.4 delete: the node goes with its items and subscriptions (both
 * sides of the index), after <delete/> went to the subscribers. */
static void
test_delete(void **state)
{
	struct pubsub_conf c;
	struct strlist subs;
	char id[PUBSUB_ID_MAX + 1];

	(void)state;
	assert_int_equal(publish("n", "x", "1", id), PUBSUB_OK);
	assert_int_equal(pubsub_sub_write(&svc, "n", FRIEND "/a", 1), 0);
	pubsub_subs_of(&svc, FRIEND, &subs);
	assert_int_equal(subs.n, 1);
	assert_string_equal(subs.v[0], "n\n" FRIEND "/a");
	strlist_free(&subs);
	assert_int_equal(pubsub_conf_load(&svc, "n", &c), 0);
	pubsub_delete(&svc, "n", &c);
	pubsub_conf_cleanup(&c);
	assert_int_equal(sent_to.n, 1);
	assert_non_null(strstr(sent_xml.v[0], "<delete node='n'/>"));
	assert_int_equal(pubsub_conf_load(&svc, "n", &c), 1);
	pubsub_conf_cleanup(&c);
	pubsub_subs_of(&svc, FRIEND, &subs);
	assert_int_equal(subs.n, 0);
	strlist_free(&subs);
	pubsub_subs_load(&svc, "n", &subs);
	assert_int_equal(subs.n, 0);
	strlist_free(&subs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_publish_and_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_max_items_trimming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retract, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_access_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_publish_options, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_form_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_limits_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
